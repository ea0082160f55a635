"""A simulated disk for one server: what survives a crash is exactly what a Ready's ops wrote before the crash.

A runner writes a Ready as a sequence of ops (snapshot, truncate, append, hard state, compact) and then syncs; the
simulator can crash a server part-way through, keeping only a prefix of the ops (unsynced writes are lost).
"""

from __future__ import annotations

from typing import Any

from raftstore.logstore.log import Log
from raftstore.raft.messages import SnapshotMeta
from raftstore.raft.ready import BootState, Ready

Op = tuple[str, Any]


class SimDisk:
    __slots__ = ("hard", "log", "snapshot", "snapshot_data")

    def __init__(self, boot: BootState | None = None) -> None:
        boot = boot or BootState()
        self.hard = boot.hard_state
        self.snapshot: SnapshotMeta | None = boot.snapshot
        self.snapshot_data: dict[str, Any] = {}
        self.log: list[Log] = list(boot.entries)

    @staticmethod
    def ops(ready: Ready) -> list[Op]:
        """A Ready's writes in the order the core requires (raftstore.raft.ready)."""
        ops: list[Op] = []
        if ready.snapshot is not None:
            ops.append(("snapshot", (ready.snapshot, ready.snapshot_data)))
        if ready.truncate_from is not None:
            ops.append(("truncate", ready.truncate_from))
        if ready.entries:
            ops.append(("append", ready.entries))
        if ready.hard_state is not None:
            ops.append(("hard", ready.hard_state))
        if ready.compact_to is not None:
            ops.append(("compact", ready.compact_to))
        return ops

    def apply(self, op: Op) -> None:
        kind, arg = op
        log = self.log
        if kind == "append":
            if log and arg[0].index != log[-1].index + 1:
                raise AssertionError(f"append of {arg[0].index} after {log[-1].index} leaves a gap")
            log.extend(arg)
        elif kind == "truncate":
            while log and log[-1].index >= arg:
                log.pop()
        elif kind == "hard":
            self.hard = arg
        elif kind == "compact":
            drop = 0
            while drop < len(log) and log[drop].index <= arg:
                drop += 1
            del log[:drop]
        else:
            self.snapshot, data = arg
            self.snapshot_data = dict(data)

    def term_at(self, index: int) -> int | None:
        log = self.log
        if log and log[0].index <= index <= log[-1].index:
            return log[index - log[0].index].term
        if self.snapshot is not None and index <= self.snapshot.index:
            return -1 if index < self.snapshot.index else self.snapshot.term
        return None

    def boot(self) -> BootState:
        return BootState(self.hard, self.snapshot, list(self.log))

    def save_snapshot(self, meta: SnapshotMeta, data: dict[str, Any]) -> None:
        self.snapshot = meta
        self.snapshot_data = dict(data)
