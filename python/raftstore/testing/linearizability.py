"""Linearizability checker for key-value histories (the record format of `raftstore.testing.history`).

    result = check_kv(history, timeout=10.0)
    if not result:
        print(result.explanation)

`check_kv` splits the history by key — keys are independent registers, and linearizability is compositional, so the
whole history is linearizable exactly when every key's sub-history is — and runs Wing & Gong's search with Lowe's
just-in-time linearization and Porcupine's memo on each key (`wgl`), against the register specification in
`kvmodel`. Failed operations are dropped; operations with an unknown outcome may take effect at any time after
their invocation, or never.

The result is truthy only for a linearizable history. A violation names the key and explains it: the longest
linearizable prefix the search found, the register value after it, and the operation that could not be placed.
With a `timeout`, a search that runs out of time gives the verdict "unknown", which is falsy like a violation but
distinguishable (`result.verdict`, `result.timed_out`): it proves nothing either way.

Command line:  python -m raftstore.testing.linearizability FILE [--format jsonl|jepsen-etcd] [--timeout SECONDS]
Exit status: 0 linearizable, 1 not linearizable, 3 unknown (timed out), 2 unreadable input or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from raftstore.testing.history import HistoryError, Operation, load_jsonl
from raftstore.testing.kvmodel import ABSENT, RegisterOp, canonical, describe, encode, show
from raftstore.testing.wgl import SearchOutcome, search

Verdict = Literal["linearizable", "not linearizable", "unknown"]
LINEARIZABLE: Final = "linearizable"
NOT_LINEARIZABLE: Final = "not linearizable"
UNKNOWN: Final = "unknown"

# How many operations of the longest prefix an explanation lists (the most recent ones; older ones are counted).
_PREFIX_SHOWN = 12
_OPEN_SHOWN = 12


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict on a history; `bool(result)` is True only when it is linearizable.

    For "not linearizable", `key` is the key whose sub-history failed, `prefix` the longest linearizable order of its
    operations found, `blocked` the operation whose return ended that prefix (no remaining candidate could go first)
    and `open_operations` the operations that were still candidates there. For "unknown" (timed out) they describe
    the key being searched and the furthest point reached. For "linearizable", `witness` gives, per key, an order
    of its operations that is a valid linearization (operations with unknown outcome that it omits never took
    effect, or equivalently took effect last).
    """

    verdict: Verdict
    explanation: str
    key: str | None = None
    prefix: tuple[Operation, ...] = ()
    blocked: Operation | None = None
    open_operations: tuple[Operation, ...] = ()
    witness: Mapping[str, tuple[Operation, ...]] = field(default_factory=dict)
    operations: int = 0
    keys: int = 0
    elapsed: float = 0.0

    def __bool__(self) -> bool:
        return self.verdict == LINEARIZABLE

    @property
    def timed_out(self) -> bool:
        """True when the search ran out of time: the history is neither proven linearizable nor refuted."""
        return self.verdict == UNKNOWN


def check_kv(
    history: Iterable[Operation],
    *,
    timeout: float | None = None,
    initial: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Check a key-value history for linearizability, key by key.

    `timeout` (seconds, for the whole history) bounds the search; None searches to the end. `initial` gives values
    of keys that exist before the history starts (every other key starts absent). Malformed input raises
    `HistoryError`. A violation on any key decides the verdict even if another key timed out.
    """
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    by_key: dict[str, list[RegisterOp]] = {}
    count = 0
    for operation in history:
        if not isinstance(operation, Operation):
            raise HistoryError(f"a history holds Operation records, got {type(operation).__name__}")
        by_key.setdefault(operation.key, [])
        encoded = encode(operation)
        if encoded is not None:
            by_key[operation.key].append(encoded)
            count += 1
    starting = {key: canonical(value) for key, value in (initial or {}).items()}

    witness: dict[str, tuple[Operation, ...]] = {}
    timed_out: tuple[str, list[RegisterOp], SearchOutcome] | None = None
    # Smaller keys first: a violation or a timeout on a cheap key is found before the expensive ones are searched.
    for key in sorted(by_key, key=lambda name: len(by_key[name])):
        ops = by_key[key]
        initial_state = starting.get(key, ABSENT)
        outcome = search(ops, initial_state, deadline)
        if outcome.verdict == "linearizable":
            witness[key] = tuple(ops[i].source for i in outcome.order)
            continue
        if outcome.verdict == "not linearizable":
            return _failure(NOT_LINEARIZABLE, key, ops, initial_state, outcome, count, len(by_key), started)
        if timed_out is None:
            timed_out = (key, ops, outcome)
        if deadline is not None and time.monotonic() > deadline:
            break
    if timed_out is not None:
        key, ops, outcome = timed_out
        return _failure(UNKNOWN, key, ops, starting.get(key, ABSENT), outcome, count, len(by_key), started)
    elapsed = time.monotonic() - started
    explanation = f"linearizable: {count} operations on {len(by_key)} keys checked in {elapsed:.3f}s"
    return CheckResult(LINEARIZABLE, explanation, witness=witness, operations=count, keys=len(by_key), elapsed=elapsed)


def _failure(
    verdict: Verdict,
    key: str,
    ops: Sequence[RegisterOp],
    initial_state: Hashable,
    outcome: SearchOutcome,
    count: int,
    keys: int,
    started: float,
) -> CheckResult:
    elapsed = time.monotonic() - started
    prefix = tuple(ops[i].source for i in outcome.order)
    blocked = None if outcome.blocked is None else ops[outcome.blocked].source
    open_ops = tuple(ops[i].source for i in outcome.open_ops)
    if verdict == NOT_LINEARIZABLE:
        head = f"not linearizable: key {key!r} ({len(ops)} operations considered on it)"
    else:
        head = f"unknown: the search timed out on key {key!r} ({len(ops)} operations) after {elapsed:.1f}s"
    lines = [head, f"initial value: {show(initial_state)}"]
    lines.append(f"longest linearizable prefix found ({len(prefix)} operations), in order:")
    if len(prefix) > _PREFIX_SHOWN:
        lines.append(f"  ... {len(prefix) - _PREFIX_SHOWN} earlier operations")
    for position in range(max(0, len(prefix) - _PREFIX_SHOWN), len(prefix)):
        lines.append(f"  {position + 1}. {describe(prefix[position])}")
    lines.append(f"value after it: {show(outcome.state)}")
    if blocked is not None:
        lines.append("then no operation could take effect before this one returned, and it cannot go next:")
        lines.append(f"  {describe(blocked)}")
    if open_ops:
        lines.append(f"other operations still open at that point ({len(open_ops)}), none of which helps:")
        lines.extend(f"  {describe(operation)}" for operation in open_ops[:_OPEN_SHOWN])
        if len(open_ops) > _OPEN_SHOWN:
            lines.append(f"  ... {len(open_ops) - _OPEN_SHOWN} more")
    return CheckResult(
        verdict,
        "\n".join(lines),
        key=key,
        prefix=prefix,
        blocked=blocked,
        open_operations=open_ops,
        operations=count,
        keys=keys,
        elapsed=elapsed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m raftstore.testing.linearizability",
        description="Check a key-value history for linearizability.",
    )
    parser.add_argument("file", help="the history: JSON lines of raftstore.testing.history records, or a Jepsen log")
    parser.add_argument("--format", choices=("jsonl", "jepsen-etcd"), default="jsonl", help="the file's format")
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit 3)")
    args = parser.parse_args(argv)
    try:
        if args.format == "jepsen-etcd":
            from raftstore.testing.jepsen import load_jepsen_etcd

            history = load_jepsen_etcd(args.file)
        else:
            history = load_jsonl(args.file)
        result = check_kv(history, timeout=args.timeout)
    except (OSError, HistoryError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result.explanation)
    if result:
        return 0
    return 3 if result.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())
