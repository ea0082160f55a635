"""Go's `time.Duration` text form: `Duration.String()` and `time.ParseDuration`, exactly.

Why: Consul's HTTP API writes durations as Go strings ("13.04ms", "1m0s") and reads them back the same way (the
autopilot configuration, blocking queries' `wait`); a client that compares or round-trips those strings needs the
same bytes Go produces, and the same acceptance and error messages Go gives for input.

Durations are integer nanoseconds in a signed 64-bit range, as in Go; floats are only accepted through
`format_seconds`, which rounds to the nearest nanosecond.
"""

from __future__ import annotations

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

MIN_DURATION = -(1 << 63)
MAX_DURATION = (1 << 63) - 1

_UNITS: dict[str, int] = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # U+00B5 MICRO SIGN, what Go prints
    "\u03bcs": MICROSECOND,  # U+03BC GREEK SMALL LETTER MU, also accepted by Go
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


class DurationError(ValueError):
    """A duration string Go would refuse, or a value outside Go's int64 nanosecond range."""


def _fraction_digits(value: int, digits: int) -> tuple[int, str]:
    """Split `value` into its integer part and the `digits` low decimal digits, trailing zeros dropped ("" if 0)."""
    integer, fraction = divmod(value, 10**digits)
    text = str(fraction).rjust(digits, "0").rstrip("0")
    return integer, ("." + text if text else "")


def format_duration(nanoseconds: int) -> str:
    """`time.Duration(nanoseconds).String()`: "0s", "1.5µs", "13.04ms", "1m0s", "2h3m4.5s", "-1ns"."""
    if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int):
        raise TypeError(f"a duration is integer nanoseconds, got {type(nanoseconds).__name__}")
    if not MIN_DURATION <= nanoseconds <= MAX_DURATION:
        raise DurationError(f"duration {nanoseconds}ns is outside Go's int64 range")
    sign = "-" if nanoseconds < 0 else ""
    magnitude = abs(nanoseconds)
    if magnitude == 0:
        return "0s"
    if magnitude < MICROSECOND:
        return f"{sign}{magnitude}ns"
    if magnitude < MILLISECOND:
        whole, frac = _fraction_digits(magnitude, 3)
        return f"{sign}{whole}{frac}\u00b5s"
    if magnitude < SECOND:
        whole, frac = _fraction_digits(magnitude, 6)
        return f"{sign}{whole}{frac}ms"
    seconds, frac = _fraction_digits(magnitude, 9)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{seconds}{frac}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def format_seconds(seconds: float) -> str:
    """`format_duration` for a duration in (possibly fractional) seconds, rounded to the nearest nanosecond."""
    return format_duration(round(seconds * SECOND))


def _go_quote(text: str) -> str:
    """Go's `time.quote`: double quotes, `"` and `\\` escaped, non-ASCII and control bytes as `\\xNN`."""
    out = ['"']
    for char in text:
        if ord(char) >= 0x80 or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogateescape"))
        else:
            if char in '"\\':
                out.append("\\")
            out.append(char)
    out.append('"')
    return "".join(out)


def _invalid(original: str) -> DurationError:
    return DurationError(f"time: invalid duration {_go_quote(original)}")


def parse_duration(text: str) -> int:
    """`time.ParseDuration`: "300ms", "-1.5h", "2h45m", "1µs", ".5s"; returns nanoseconds.

    The rules are Go's: an optional sign, then one or more `<decimal><unit>` terms (a bare "0" is the only unitless
    input), a fraction's contribution computed in float64 as Go does, and anything beyond int64 refused.
    """
    if not isinstance(text, str):
        raise TypeError(f"a duration string is str, got {type(text).__name__}")
    original = text
    negative = False
    if text and text[0] in "-+":
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if text == "":
        raise _invalid(original)
    total = 0
    limit = 1 << 63
    while text:
        if not (text[0] == "." or "0" <= text[0] <= "9"):
            raise _invalid(original)
        # The integer part; Go refuses it outright when it exceeds 2**63.
        position = 0
        whole = 0
        while position < len(text) and "0" <= text[position] <= "9":
            whole = whole * 10 + (ord(text[position]) - 48)
            if whole > limit:
                raise _invalid(original)
            position += 1
        had_integer = position > 0
        text = text[position:]
        # The fraction: digits past what an int64 holds are consumed but ignored, as Go does.
        fraction, scale, had_fraction = 0, 1.0, False
        if text.startswith("."):
            text = text[1:]
            position = 0
            overflowed = False
            while position < len(text) and "0" <= text[position] <= "9":
                if not overflowed:
                    if fraction > ((1 << 63) - 1) // 10:
                        overflowed = True
                    else:
                        candidate = fraction * 10 + (ord(text[position]) - 48)
                        if candidate > (1 << 63) - 1:
                            overflowed = True
                        else:
                            fraction = candidate
                            scale *= 10
                position += 1
            had_fraction = position > 0
            text = text[position:]
        if not had_integer and not had_fraction:
            raise _invalid(original)  # "." or ".s"
        position = 0
        while position < len(text) and text[position] != "." and not "0" <= text[position] <= "9":
            position += 1
        if position == 0:
            raise DurationError(f"time: missing unit in duration {_go_quote(original)}")
        unit_name = text[:position]
        text = text[position:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise DurationError(f"time: unknown unit {_go_quote(unit_name)} in duration {_go_quote(original)}")
        if whole > limit // unit:
            raise _invalid(original)
        value = whole * unit
        if fraction > 0:
            value += int(float(fraction) * (float(unit) / scale))
            if value > limit:
                raise _invalid(original)
        total += value
        if total > limit:
            raise _invalid(original)
    if negative:
        return -total
    if total > MAX_DURATION:
        raise _invalid(original)
    return total
