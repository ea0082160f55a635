"""The linearizability checker on labelled cases, against a brute-force oracle, and on large generated histories."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftstore.testing.history import HistoryError, Operation, dump_jsonl
from raftstore.testing.linearizability import check_kv, main

# The support module sits next to this file; --import-mode=importlib puts no test directory on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from linearizability_support import (
    apply_sequentially,
    brute_force_linearizable,
    linearizable_history,
    respects_real_time,
)

pytestmark = pytest.mark.pure_python


def op(
    client: int, name: str, value: Any, output: Any, invoke: float, complete: float | None, status: str = "ok"
) -> Operation:
    """An operation on key "x" (the labelled cases are single-key unless they say otherwise)."""
    if status == "unknown":
        complete = None
    return Operation(client, name, "x", value, output, invoke, complete, status)  # type: ignore[arg-type]


LINEARIZABLE = {
    "empty": [],
    "sequential put then get": [op(1, "put", "a", None, 0, 1), op(2, "get", None, "a", 2, 3)],
    "get before any put sees absent": [op(1, "get", None, None, 0, 1), op(2, "put", "a", None, 2, 3)],
    "concurrent get may see the old value": [op(1, "put", "a", None, 0, 10), op(2, "get", None, None, 1, 2)],
    "concurrent get may see the new value": [op(1, "put", "a", None, 0, 10), op(2, "get", None, "a", 1, 2)],
    "touching intervals count as concurrent": [op(1, "put", "a", None, 0, 5), op(2, "get", None, None, 5, 6)],
    "timed-out put observed later": [op(1, "put", "a", None, 0, None, "unknown"), op(2, "get", None, "a", 50, 51)],
    "timed-out put never observed": [
        op(1, "put", "a", None, 0, None, "unknown"),
        op(2, "get", None, None, 50, 51),
        op(2, "get", None, None, 60, 61),
    ],
    "timed-out put takes effect late": [
        op(1, "put", "a", None, 0, None, "unknown"),
        op(2, "get", None, None, 50, 51),
        op(2, "get", None, "a", 60, 61),
    ],
    "timed-out get constrains nothing": [op(1, "get", None, "zzz", 0, None, "unknown")],
    "cas swaps": [op(1, "put", "a", None, 0, 1), op(2, "cas", ("a", "b"), True, 2, 3), op(3, "get", None, "b", 4, 5)],
    "cas refused observes another value": [op(1, "put", "a", None, 0, 1), op(2, "cas", ("z", "b"), False, 2, 3)],
    "cas if absent": [op(1, "cas", (None, "a"), True, 0, 1), op(2, "cas", (None, "b"), False, 2, 3)],
    "delete then absent": [
        op(1, "put", "a", None, 0, 1),
        op(1, "delete", None, None, 2, 3),
        op(2, "get", None, None, 4, 5),
    ],
    "timed-out cas chain": [
        op(1, "put", "a", None, 0, 1),
        op(1, "cas", ("a", "b"), None, 2, None, "unknown"),
        op(2, "cas", ("b", "c"), None, 3, None, "unknown"),
        op(3, "get", None, "c", 10, 11),
    ],
}

NOT_LINEARIZABLE = {
    "stale read": [op(1, "put", "a", None, 0, 1), op(2, "get", None, None, 2, 3)],
    "value never written": [op(1, "put", "a", None, 0, 1), op(2, "get", None, "b", 2, 3)],
    "failed put has no effect": [op(1, "put", "a", None, 0, 1, "fail"), op(2, "get", None, "a", 2, 3)],
    "timed-out put cannot act before invoked": [
        op(2, "get", None, "a", 0, 1),
        op(1, "put", "a", None, 2, None, "unknown"),
    ],
    "timed-out put takes effect once": [
        op(1, "put", "a", None, 0, 1),
        op(2, "put", "b", None, 2, None, "unknown"),
        op(3, "get", None, "b", 10, 11),
        op(3, "get", None, "a", 12, 13),
    ],
    "refused cas saw the expected value": [op(1, "put", "a", None, 0, 1), op(2, "cas", ("a", "b"), False, 2, 3)],
    "refused cas if absent on absent key": [op(1, "cas", (None, "a"), False, 0, 1)],
    "swapped cas on wrong value": [op(1, "put", "a", None, 0, 1), op(2, "cas", ("z", "b"), True, 2, 3)],
    "json true is not 1": [op(1, "put", 1, None, 0, 1), op(2, "get", None, True, 2, 3)],
    "reads disagree on order": [
        op(1, "put", "a", None, 0, 10),
        op(2, "put", "b", None, 0, 10),
        op(3, "get", None, "a", 11, 12),
        op(4, "get", None, "b", 13, 14),
        op(3, "get", None, "a", 15, 16),
    ],
}


@pytest.mark.parametrize("name", sorted(LINEARIZABLE))
def test_linearizable_cases(name: str) -> None:
    history = LINEARIZABLE[name]
    assert brute_force_linearizable(history), "the case itself is mislabelled"
    result = check_kv(history)
    assert result, result.explanation
    assert result.verdict == "linearizable" and not result.timed_out
    for order in result.witness.values():
        assert respects_real_time(order) and apply_sequentially(order)


@pytest.mark.parametrize("name", sorted(NOT_LINEARIZABLE))
def test_not_linearizable_cases(name: str) -> None:
    history = NOT_LINEARIZABLE[name]
    assert not brute_force_linearizable(history), "the case itself is mislabelled"
    result = check_kv(history)
    assert not result and result.verdict == "not linearizable" and not result.timed_out
    assert result.key == "x" and result.blocked is not None
    assert "not linearizable: key 'x'" in result.explanation


def test_keys_are_independent_and_the_failing_key_is_named() -> None:
    good = [Operation(1, "put", "a", "1", None, 0, 1), Operation(2, "get", "a", None, "1", 2, 3)]
    bad = [Operation(1, "put", "b", "1", None, 0, 1), Operation(2, "get", "b", None, None, 2, 3)]
    assert check_kv(good)
    result = check_kv(good + bad)
    assert not result and result.key == "b"
    assert result.prefix == (bad[0],) and result.blocked == bad[1]


def test_initial_values() -> None:
    history = [Operation(1, "get", "k", None, "v", 0, 1)]
    assert not check_kv(history)
    assert check_kv(history, initial={"k": "v"})


def test_timeout_gives_unknown_not_a_verdict() -> None:
    # Twelve concurrent writes and a read of a value nobody wrote: refuting it means trying every order.
    history = [op(c, "put", f"v{c}", None, 0, 100) for c in range(12)] + [op(99, "get", None, "never", 0, 100)]
    result = check_kv(history, timeout=0.0)
    assert not result and result.timed_out and result.verdict == "unknown"
    assert "timed out" in result.explanation


def test_bad_input_raises_history_error() -> None:
    with pytest.raises(HistoryError):
        check_kv(["not an operation"])  # type: ignore[list-item]
    with pytest.raises(HistoryError):
        check_kv([op(1, "put", "a", None, float("nan"), float("nan"))])


values = st.sampled_from(["a", "b", None])
small_op = st.tuples(
    st.sampled_from(["get", "put", "cas", "delete"]),
    values,
    values,
    st.booleans(),
    st.integers(0, 8),
    st.integers(0, 4),
    st.sampled_from(["ok", "ok", "ok", "unknown", "fail"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(small_op, max_size=6))
def test_agrees_with_brute_force(raw: list[tuple[Any, ...]]) -> None:
    history = []
    for client, (name, first, second, swapped, start, length, status) in enumerate(raw):
        value: Any = (first, second) if name == "cas" else first if name == "put" else None
        output: Any = swapped if name == "cas" else first if name == "get" else None
        if name == "put" and value is None:
            value = "a"
        history.append(op(client, name, value, output, start, start + length, status))
    assert bool(check_kv(history)) == brute_force_linearizable(history)


@pytest.mark.parametrize(("keys", "unknown_rate"), [(("k",), 0.0), (tuple("abcdefghij"), 0.05)])
def test_ten_thousand_operations(keys: tuple[str, ...], unknown_rate: float) -> None:
    history = linearizable_history(random.Random(7), 10_000, clients=5, keys=keys, unknown_rate=unknown_rate)
    result = check_kv(history, timeout=120)
    assert result, result.explanation
    # Corrupt one read in the middle: it now returns a value that was never written.
    position = next(i for i in range(5_000, 10_000) if history[i].op == "get" and history[i].status == "ok")
    broken = list(history)
    target = broken[position]
    broken[position] = Operation(target.client, "get", target.key, None, "bogus", target.invoke, target.complete)
    result = check_kv(broken, timeout=120)
    assert not result and not result.timed_out and result.blocked == broken[position]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    dump_jsonl(LINEARIZABLE["cas swaps"], good)
    dump_jsonl(NOT_LINEARIZABLE["stale read"], bad)
    assert main([str(good)]) == 0
    assert main([str(bad)]) == 1
    assert "not linearizable" in capsys.readouterr().out
    hard = tmp_path / "hard.jsonl"
    dump_jsonl([op(c, "put", f"v{c}", None, 0, 100) for c in range(12)] + [op(99, "get", None, "n", 0, 100)], hard)
    assert main([str(hard), "--timeout", "0"]) == 3
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(json.dumps({"op": "get"}) + "\n")
    assert main([str(garbage)]) == 2
    assert main([str(tmp_path / "missing.jsonl")]) == 2
    completed = subprocess.run(
        [sys.executable, "-m", "raftstore.testing.linearizability", str(bad)], capture_output=True, text=True
    )
    assert completed.returncode == 1 and "not linearizable" in completed.stdout
