"""Go's time.Duration text form: String() and ParseDuration, checked against values Go itself produces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.util.goduration import (
    HOUR,
    MAX_DURATION,
    MICROSECOND,
    MILLISECOND,
    MIN_DURATION,
    MINUTE,
    SECOND,
    DurationError,
    format_duration,
    format_seconds,
    parse_duration,
)

pytestmark = pytest.mark.pure_python

# (nanoseconds, Go's Duration.String()) — the table from Go's time package tests plus Consul's usual values.
FORMAT_CASES = [
    (0, "0s"),
    (1, "1ns"),
    (999, "999ns"),
    (1100, "1.1µs"),
    (1500, "1.5µs"),
    (2200 * MICROSECOND, "2.2ms"),
    (13_040_000, "13.04ms"),
    (200 * MILLISECOND, "200ms"),
    (3300 * MILLISECOND, "3.3s"),
    (10 * SECOND, "10s"),
    (MINUTE, "1m0s"),
    (4 * MINUTE + 5 * SECOND, "4m5s"),
    (4 * MINUTE + 5001 * MILLISECOND, "4m5.001s"),
    (5 * HOUR + 6 * MINUTE + 7001 * MILLISECOND, "5h6m7.001s"),
    (2 * HOUR + 3 * MINUTE + 4500 * MILLISECOND, "2h3m4.5s"),
    (8 * MINUTE + 1, "8m0.000000001s"),
    (HOUR, "1h0m0s"),
    (-1, "-1ns"),
    (-1500, "-1.5µs"),
    (-MINUTE, "-1m0s"),
    (MAX_DURATION, "2562047h47m16.854775807s"),
    (MIN_DURATION, "-2562047h47m16.854775808s"),
]


@pytest.mark.parametrize(("nanoseconds", "text"), FORMAT_CASES)
def test_format_matches_go(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text


def test_format_uses_the_micro_sign_go_prints() -> None:
    assert format_duration(1500).encode() == b"1.5\xc2\xb5s"


def test_format_seconds_rounds_to_nanoseconds() -> None:
    assert format_seconds(0.2) == "200ms"
    assert format_seconds(1.5e-6) == "1.5µs"
    assert format_seconds(-90) == "-1m30s"


@pytest.mark.parametrize("bad", [1.5, True, "1s", None])
def test_format_refuses_non_integers(bad: object) -> None:
    with pytest.raises(TypeError):
        format_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [MAX_DURATION + 1, MIN_DURATION - 1])
def test_format_refuses_values_outside_int64(value: int) -> None:
    with pytest.raises(DurationError):
        format_duration(value)


# (input, nanoseconds) — Go's ParseDuration test table, plus the unit spellings Consul users type.
PARSE_CASES = [
    ("0", 0),
    ("5s", 5 * SECOND),
    ("30s", 30 * SECOND),
    ("1478s", 1478 * SECOND),
    ("-5s", -5 * SECOND),
    ("+5s", 5 * SECOND),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * SECOND),
    ("5.6s", 5 * SECOND + 600 * MILLISECOND),
    ("5.s", 5 * SECOND),
    (".5s", 500 * MILLISECOND),
    ("1.0s", SECOND),
    ("1.00s", SECOND),
    ("1.004s", SECOND + 4 * MILLISECOND),
    ("1.0040s", SECOND + 4 * MILLISECOND),
    ("100.00100s", 100 * SECOND + 1 * MILLISECOND),
    ("10ns", 10),
    ("11us", 11 * MICROSECOND),
    ("12µs", 12 * MICROSECOND),
    ("12μs", 12 * MICROSECOND),
    ("13ms", 13 * MILLISECOND),
    ("14s", 14 * SECOND),
    ("15m", 15 * MINUTE),
    ("16h", 16 * HOUR),
    ("3h30m", 3 * HOUR + 30 * MINUTE),
    ("10.5s4m", 4 * MINUTE + 10 * SECOND + 500 * MILLISECOND),
    ("-2m3.4s", -(2 * MINUTE + 3 * SECOND + 400 * MILLISECOND)),
    ("1h2m3s4ms5us6ns", HOUR + 2 * MINUTE + 3 * SECOND + 4 * MILLISECOND + 5 * MICROSECOND + 6),
    ("39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14 * SECOND + 425 * MILLISECOND),
    ("52763797000ns", 52763797000),
    ("0.3333333333333333333h", 20 * MINUTE),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", MAX_DURATION),
    ("9223372036854775.807us", MAX_DURATION),
    ("9223372036s854ms775us807ns", MAX_DURATION),
    ("-9223372036854775808ns", MIN_DURATION),
    ("-9223372036s854ms775us808ns", MIN_DURATION),
    ("-2562047h47m16.854775808s", MIN_DURATION),
    ("0.100000000000000000000h", 6 * MINUTE),
    ("0.830103483285477580700h", 49 * MINUTE + 48 * SECOND + 372539827),
]


@pytest.mark.parametrize(("text", "nanoseconds"), PARSE_CASES)
def test_parse_matches_go(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


# (input, Go's error message)
PARSE_ERRORS = [
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("1.5.5s", 'time: missing unit in duration "1.5.5s"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
    ('"', 'time: invalid duration "\\""'),
    ("\x85\x85", 'time: invalid duration "\\xc2\\x85\\xc2\\x85"'),
    ("1é", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
    (" 1s", 'time: invalid duration " 1s"'),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors_carry_gos_message(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(TypeError):
        parse_duration(5)  # type: ignore[arg-type]


@given(st.integers(min_value=MIN_DURATION, max_value=MAX_DURATION))
def test_format_then_parse_round_trips(nanoseconds: int) -> None:
    assert parse_duration(format_duration(nanoseconds)) == nanoseconds


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from([("ns", 1), ("us", MICROSECOND), ("ms", MILLISECOND), ("s", SECOND), ("m", MINUTE), ("h", HOUR)]),
    st.booleans(),
)
def test_parse_integer_terms(count: int, unit: tuple[str, int], negative: bool) -> None:
    text = f"{'-' if negative else ''}{count}{unit[0]}"
    assert parse_duration(text) == (-1 if negative else 1) * count * unit[1]
