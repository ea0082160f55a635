"""The record format of key-value client histories, shared by whoever records them and whoever checks them.

A history is a list of `Operation`s, one per client call, in any order. Each says who called (`client`), what
(`op`: get / put / cas / delete on `key`, with `input`), what came back (`output`), and when the call started and
ended (`invoke`, `complete`) on one clock shared by all clients. The checker only compares times, so any unit works.

Outcomes (`status`):
- ``"ok"``: the call returned; `output` is its result and `complete` its return time.
- ``"fail"``: the call definitely had no effect (for example it was refused before being sent). Checkers ignore it.
- ``"unknown"``: the client gave up (a timeout, a lost connection): the operation may or may not take effect, at any
  time after `invoke`. `complete` is None and `output` is meaningless.

Inputs and outputs per op (values are JSON scalars, usually strings; None means "no such key"):
- ``get``:    input None,                output the value read, or None when the key is absent;
- ``put``:    input the new value,       output None;
- ``cas``:    input ``[expected, new]``, output True when it swapped, False when the current value differed
              (``expected`` None means "only if absent");
- ``delete``: input None,                output None.
A cas that returned False is an ``"ok"`` operation with output False, not a ``"fail"``: it observed the state.

On disk a history is JSON lines, one object per operation with exactly the keys ``client, op, key, input, output,
invoke, complete, status`` (`dump_jsonl` / `load_jsonl`); histories recorded from real clusters can be checked later
with ``python -m raftstore.testing.linearizability FILE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

OpName = Literal["get", "put", "cas", "delete"]
Status = Literal["ok", "fail", "unknown"]

OPS: frozenset[str] = frozenset({"get", "put", "cas", "delete"})
STATUSES: frozenset[str] = frozenset({"ok", "fail", "unknown"})
FIELDS: tuple[str, ...] = ("client", "op", "key", "input", "output", "invoke", "complete", "status")


class HistoryError(ValueError):
    """A history record is malformed; the message names the record and the field."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One client call on a key-value store; see the module docstring for the meaning of each field."""

    client: int
    op: OpName
    key: str
    input: Any
    output: Any
    invoke: float
    complete: float | None
    status: Status = "ok"

    def __post_init__(self) -> None:
        """Invariants every checker relies on, enforced where records are made."""
        if self.op not in OPS:
            raise HistoryError(f"unknown op {self.op!r}; expected one of {sorted(OPS)}")
        if self.status not in STATUSES:
            raise HistoryError(f"unknown status {self.status!r}; expected one of {sorted(STATUSES)}")
        if self.status == "unknown":
            if self.complete is not None:
                raise HistoryError("an operation with status 'unknown' has no completion time")
        elif self.complete is None:
            raise HistoryError(f"an operation with status {self.status!r} needs a completion time")
        elif self.complete < self.invoke:
            raise HistoryError(f"completion time {self.complete} is before invocation time {self.invoke}")
        if self.op == "cas" and not (isinstance(self.input, (list, tuple)) and len(self.input) == 2):
            raise HistoryError(f"cas input must be [expected, new], got {self.input!r}")
        if self.op == "cas" and self.status == "ok" and not isinstance(self.output, bool):
            raise HistoryError(f"a completed cas returns true or false, got {self.output!r}")

    def to_json(self) -> dict[str, Any]:
        """The JSON-lines object for this record (cas input as a list)."""
        value = self.input if self.op != "cas" else list(self.input)
        return {
            "client": self.client,
            "op": self.op,
            "key": self.key,
            "input": value,
            "output": self.output,
            "invoke": self.invoke,
            "complete": self.complete,
            "status": self.status,
        }

    @classmethod
    def from_json(cls, record: Any) -> Operation:
        """Parse one JSON-lines object, with a clear error for a missing or extra field."""
        if not isinstance(record, dict):
            raise HistoryError(f"a history record is a JSON object, got {type(record).__name__}")
        missing = [name for name in FIELDS if name not in record]
        extra = sorted(set(record) - set(FIELDS))
        if missing or extra:
            raise HistoryError(f"history record fields: missing {missing}, unexpected {extra}")
        if not isinstance(record["client"], int) or not isinstance(record["key"], str):
            raise HistoryError("client must be an integer and key a string")
        for name in ("invoke", "complete"):
            if record[name] is not None and not isinstance(record[name], (int, float)):
                raise HistoryError(f"{name} must be a number, got {record[name]!r}")
        if record["invoke"] is None:
            raise HistoryError("invoke must be a number, got None")
        value = (
            tuple(record["input"]) if record["op"] == "cas" and isinstance(record["input"], list) else record["input"]
        )
        return cls(
            client=record["client"],
            op=record["op"],
            key=record["key"],
            input=value,
            output=record["output"],
            invoke=float(record["invoke"]),
            complete=None if record["complete"] is None else float(record["complete"]),
            status=record["status"],
        )


def dump_jsonl(history: Iterable[Operation], path: str | Path) -> None:
    """Write a history as JSON lines."""
    with open(path, "w", encoding="utf-8") as out:
        for operation in history:
            out.write(json.dumps(operation.to_json(), separators=(",", ":")) + "\n")


def iter_jsonl(path: str | Path) -> Iterator[Operation]:
    """Read a JSON-lines history lazily; errors name the line."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield Operation.from_json(json.loads(line))
            except (json.JSONDecodeError, HistoryError, TypeError) as error:
                raise HistoryError(f"{path}:{number}: {error}") from None


def load_jsonl(path: str | Path) -> list[Operation]:
    """Read a whole JSON-lines history."""
    return list(iter_jsonl(path))
