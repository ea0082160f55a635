"""The sequential specification the linearizability checker tests against: one key of a key-value store.

Keys are independent, so a key-value store is a set of registers and a history is checked key by key (Porcupine's
partitioning, sound because linearizability is compositional). This module turns each `Operation` of one key into
a `RegisterOp` — a small transition on the register's value — and defines that transition (`step`).

Values are compared as JSON values, not as Python objects: ``true`` differs from ``1`` and a list equals a list with
the same items. `canonical` maps a value to a hashable form with exactly that equality, because the search memoizes
(linearized set, register value) pairs in a hash set.

The register's value is `ABSENT` (the canonical form of None: "no such key") until something writes it. Per op:
- get ok(v):            allowed only when the value is v; no change.
- put ok / unknown(v):  always allowed; the value becomes v.
- delete ok / unknown:  always allowed; the value becomes ABSENT.
- cas ok True [e, n]:   allowed only when the value is e; it becomes n.
- cas ok False [e, n]:  allowed only when the value differs from e (the cas observed it); no change.
- cas unknown [e, n]:   always allowed; the value becomes n if it was e. An unknown operation that never took
                        effect is the same as one placed after everything else, so "maybe" needs no extra branch.
- get unknown, and every ``fail``: constrain nothing and change nothing; `encode` drops them (returns None).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any, NamedTuple

from raftstore.testing.history import HistoryError, Operation

# Transition kinds, small ints so that `step` is a chain of integer comparisons.
READ = 0
WRITE = 1
CAS_SWAPPED = 2
CAS_REFUSED = 3
CAS_MAYBE = 4

ABSENT: Hashable = ("null",)
# Stands for any value that no operation of the key compares against (see `wgl`); never equal to a real value.
UNOBSERVED: Hashable = ("unobserved",)


class _Invalid:
    """The type of `INVALID`, the result of a step the register's value does not allow."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = _Invalid()


def canonical(value: Any) -> Hashable:
    """A hashable form of a JSON value whose equality is JSON equality (true != 1, 1 == 1.0, lists by items)."""
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise HistoryError(f"value {value!r} is not a JSON number")
        return ("num", value)
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, (list, tuple)):
        return ("list", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        if not all(isinstance(name, str) for name in value):
            raise HistoryError(f"object value {value!r} has a non-string key")
        return ("obj", tuple(sorted((name, canonical(item)) for name, item in value.items())))
    raise HistoryError(f"value {value!r} of type {type(value).__name__} is not a JSON value")


def show(state: Hashable) -> str:
    """A canonical value written back as JSON-ish text, for explanations."""
    if state == ABSENT:
        return "absent"
    if state == UNOBSERVED:
        return "a value no operation reads or expects"
    return repr(_plain(state))


def _plain(state: Any) -> Any:
    tag = state[0]
    if tag == "null":
        return None
    if tag == "list":
        return [_plain(item) for item in state[1]]
    if tag == "obj":
        return {name: _plain(item) for name, item in state[1]}
    return state[1]


class RegisterOp(NamedTuple):
    """One operation of one key as a register transition; `complete` None means it may take effect any time."""

    kind: int
    a: Hashable  # READ: the value read; WRITE: the value written; CAS_*: the expected value
    b: Hashable  # CAS_*: the new value; otherwise unused
    invoke: float
    complete: float | None
    source: Operation


def encode(operation: Operation) -> RegisterOp | None:
    """The register transition of `operation`, or None when it constrains nothing (fail, or a get with no answer)."""
    if operation.status == "fail":
        return None
    for name in ("invoke", "complete"):
        moment = getattr(operation, name)
        if moment is not None and not math.isfinite(moment):
            raise HistoryError(f"{name} time {moment!r} is not finite in {describe(operation)}")
    known = operation.status == "ok"
    op = operation.op
    if op == "get":
        if not known:
            return None
        return RegisterOp(READ, canonical(operation.output), None, operation.invoke, operation.complete, operation)
    if op == "put":
        return RegisterOp(WRITE, canonical(operation.input), None, operation.invoke, operation.complete, operation)
    if op == "delete":
        return RegisterOp(WRITE, ABSENT, None, operation.invoke, operation.complete, operation)
    expected, new = (canonical(operation.input[0]), canonical(operation.input[1]))
    kind = CAS_MAYBE if not known else CAS_SWAPPED if operation.output else CAS_REFUSED
    return RegisterOp(kind, expected, new, operation.invoke, operation.complete, operation)


def step(state: Hashable, kind: int, a: Hashable, b: Hashable) -> Hashable | _Invalid:
    """The register's value after the transition, or INVALID when the transition cannot happen in `state`."""
    if kind == READ:
        return state if state == a else INVALID
    if kind == WRITE:
        return a
    if kind == CAS_SWAPPED:
        return b if state == a else INVALID
    if kind == CAS_REFUSED:
        return state if state != a else INVALID
    return b if state == a else state


def describe(operation: Operation) -> str:
    """One line a human can match against a client log: who, what, the answer, and when."""
    op = operation.op
    if op == "get":
        what = f"get {operation.key!r}"
        answer = "absent" if operation.output is None else repr(operation.output)
    elif op == "put":
        what = f"put {operation.key!r} = {operation.input!r}"
        answer = "ok"
    elif op == "delete":
        what = f"delete {operation.key!r}"
        answer = "ok"
    else:
        expected, new = operation.input
        what = f"cas {operation.key!r} {'absent' if expected is None else repr(expected)} -> {new!r}"
        answer = "swapped" if operation.output else "refused (value differed)"
    if operation.status == "unknown":
        return f"client {operation.client}: {what} -> unknown outcome [invoked {operation.invoke:g}, never returned]"
    if operation.status == "fail":
        answer = "failed (no effect)"
    assert operation.complete is not None
    return f"client {operation.client}: {what} -> {answer} [{operation.invoke:g} .. {operation.complete:g}]"
