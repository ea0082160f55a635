"""The history record format: round trip through JSON lines and a clear error for each malformed record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raftstore.testing.history import HistoryError, Operation, dump_jsonl, load_jsonl

pytestmark = pytest.mark.pure_python


def test_round_trip(tmp_path: Path) -> None:
    history = [
        Operation(1, "put", "x", "1", None, 0.0, 1.0),
        Operation(2, "cas", "x", ("1", "2"), True, 0.5, 2.0),
        Operation(3, "get", "x", None, "2", 2.5, 3.0),
        Operation(4, "delete", "y", None, None, 3.0, None, "unknown"),
        Operation(5, "put", "y", "7", None, 3.0, 3.1, "fail"),
    ]
    path = tmp_path / "h.jsonl"
    dump_jsonl(history, path)
    assert load_jsonl(path) == history


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"op": "get"}, "missing"),
        ({"extra": 1}, "unexpected"),
        ({"op": "incr"}, "unknown op"),
        ({"status": "maybe"}, "unknown status"),
        ({"status": "unknown"}, "no completion time"),
        ({"complete": None}, "needs a completion time"),
        ({"complete": -1.0}, "before invocation"),
        ({"op": "cas", "input": "1"}, "cas input"),
        ({"op": "cas", "input": ["1", "2"], "output": "yes"}, "true or false"),
        ({"invoke": "soon"}, "must be a number"),
    ],
)
def test_malformed_records_are_named(tmp_path: Path, record: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "client": 1,
        "op": "get",
        "key": "k",
        "input": None,
        "output": None,
        "invoke": 0.0,
        "complete": 1.0,
        "status": "ok",
    }
    if record == {"op": "get"}:
        del base["status"]
    base.update(record)
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps(
            {
                "client": 1,
                "op": "get",
                "key": "k",
                "input": None,
                "output": None,
                "invoke": 0,
                "complete": 0,
                "status": "ok",
            }
        )
        + "\n"
        + json.dumps(base)
        + "\n"
    )
    with pytest.raises(HistoryError, match=message) as raised:
        load_jsonl(path)
    assert ":2:" in str(raised.value)
