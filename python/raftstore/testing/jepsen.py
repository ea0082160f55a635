"""Reader for Jepsen's single-register etcd logs (as redistributed in Porcupine's test data) into `Operation`s.

Each line is ``INFO  jepsen.util - <process>\\t<:invoke|:ok|:fail|:info>\\t<:read|:write|:cas>\\t<value>``. A process
runs one operation at a time: an ``:invoke`` line opens it and the next ``:ok`` / ``:fail`` / ``:info`` line of the
same process closes it. The whole log is one register, mapped to the key `KEY`, initially absent (etcd's nil).

Jepsen's completion types mean:
- ``:ok``:   it happened. A read returns its value (``nil``: absent); a cas swapped.
- ``:fail``: it definitely did not happen. For a cas that is an answer — the value differed from the expected one —
  so it becomes a cas with output False (it observed the register, which constrains the history). A failed read or
  write (e.g. ``:fail :read :timed-out`` in some logs) had no effect and observed nothing: status ``fail``.
- ``:info``: indeterminate (a timeout): status ``unknown``; it may take effect at any time after its invocation.
An invocation still open at the end of the log is indeterminate too.

Times are line numbers: Jepsen logs events in the order it saw them, which is all linearizability needs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from raftstore.testing.history import HistoryError, Operation

KEY = "register"

_LINE = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)(?:\s+(.*?))?\s*$")
_OPS = {"read": "get", "write": "put", "cas": "cas"}


def _value(text: str | None, where: str) -> Any:
    """Parse the EDN values these logs use: nil, integers, keywords, and ``[a b]`` vectors of those."""
    if text is None or text == "nil":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text.startswith("[") and text.endswith("]"):
        return [_value(part, where) for part in text[1:-1].split()]
    if re.fullmatch(r":[\w.*+!?<>=/-]+", text) or re.fullmatch(r'"[^"]*"', text):
        return text.strip('"')
    raise HistoryError(f"{where}: cannot parse value {text!r}")


def parse_jepsen_etcd(text: str, source: str = "<log>") -> list[Operation]:
    """The operations of one Jepsen etcd log; malformed or out-of-order lines raise `HistoryError` naming the line."""
    pending: dict[int, tuple[str, Any, int]] = {}
    history: list[Operation] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        match = _LINE.match(line)
        if match is None:
            raise HistoryError(f"{where}: not a Jepsen etcd log line: {line!r}")
        process, kind, f, raw = int(match[1]), match[2], match[3], match[4]
        value = _value(raw, where)
        if kind == "invoke":
            if process in pending:
                raise HistoryError(f"{where}: process {process} invokes while its previous operation is open")
            if f == "cas" and not (isinstance(value, list) and len(value) == 2):
                raise HistoryError(f"{where}: cas needs [expected new], got {raw!r}")
            pending[process] = (f, value, number)
            continue
        opened = pending.pop(process, None)
        if opened is None:
            raise HistoryError(f"{where}: process {process} completes an operation it never invoked")
        invoked_f, argument, invoked_at = opened
        if invoked_f != f:
            raise HistoryError(f"{where}: process {process} invoked :{invoked_f} but completes :{f}")
        history.append(_operation(process, f, kind, argument, value, invoked_at, number))
    for process, (f, argument, invoked_at) in sorted(pending.items()):
        history.append(_operation(process, f, "info", argument, None, invoked_at, None))
    return history


def _operation(
    process: int, f: str, kind: str, argument: Any, value: Any, invoked_at: int, completed_at: int | None
) -> Operation:
    op = _OPS[f]
    inputs = None if f == "read" else tuple(argument) if f == "cas" else argument
    if kind == "info":
        return Operation(process, op, KEY, inputs, None, float(invoked_at), None, "unknown")  # type: ignore[arg-type]
    assert completed_at is not None
    done = float(completed_at)
    if f == "cas":
        return Operation(process, "cas", KEY, inputs, kind == "ok", float(invoked_at), done, "ok")
    if kind == "fail":
        return Operation(process, op, KEY, inputs, None, float(invoked_at), done, "fail")  # type: ignore[arg-type]
    output = value if f == "read" else None
    return Operation(process, op, KEY, inputs, output, float(invoked_at), done, "ok")  # type: ignore[arg-type]


def load_jepsen_etcd(path: str | Path) -> list[Operation]:
    """Read a Jepsen etcd log file."""
    with open(path, encoding="utf-8") as log:
        return parse_jepsen_etcd(log.read(), str(path))
