"""What the core hands back to its runner: `HardState`, `Ready`, and the persisted state it starts from.

A runner processes each `Ready` in this order, which the core's safety depends on:
1. persist `snapshot` (meta and data) if set and restore the FSM from it;
2. delete log entries with index >= `truncate_from` if set;
3. append `entries` (contiguous, after whatever the log holds);
4. persist `hard_state` (term, vote, commit) if set;
5. delete log entries with index <= `compact_to` if set (always covered by a persisted snapshot);
6. sync; only then
7. send `messages` (votes and acknowledgements promise what was just synced), and
8. apply `committed` entries to the FSM in order, resolve `read_states` once the FSM has applied their index,
   and fail the requests in `dropped_reads`.
This maps onto the LogStore protocol directly (delete_range, store_logs) and onto a StableStore (set_uint64).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from raftstore.logstore.log import Log
from raftstore.raft.errors import CorruptStateError
from raftstore.raft.messages import Message, SnapshotMeta


@dataclass(frozen=True, slots=True)
class HardState:
    """What must survive a crash besides the log: the current term, the vote cast in it, the commit index."""

    term: int = 0
    vote: str | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ReadState:
    """A confirmed read: serve `context`'s read once the FSM has applied `index`."""

    context: Any
    index: int


@dataclass(slots=True)
class Ready:
    hard_state: HardState | None = None
    snapshot: SnapshotMeta | None = None
    snapshot_data: Any = None
    truncate_from: int | None = None
    entries: list[Log] = field(default_factory=list)
    compact_to: int | None = None
    messages: list[Message] = field(default_factory=list)
    committed: list[Log] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    dropped_reads: list[Any] = field(default_factory=list)
    transfer_aborted: bool = False

    def needs_sync(self) -> bool:
        """Whether step 6 has anything to make durable."""
        return (
            self.hard_state is not None
            or self.snapshot is not None
            or self.truncate_from is not None
            or bool(self.entries)
            or self.compact_to is not None
        )

    def is_empty(self) -> bool:
        return not (
            self.needs_sync()
            or self.messages
            or self.committed
            or self.read_states
            or self.dropped_reads
            or self.transfer_aborted
        )


@dataclass(slots=True)
class BootState:
    """The persisted state a core starts from: the hard state, the newest snapshot's meta, and the log entries
    kept on disk (contiguous; they may start below the snapshot index when `trailing_logs` kept some)."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta | None = None
    entries: list[Log] = field(default_factory=list)

    def validate(self) -> BootState:
        """Return the state to start from, or raise `CorruptStateError` if the pieces cannot belong together.

        Two states that a crash between a Ready's writes leaves behind are repaired, not refused:
        - a snapshot was installed but the log it replaced was not deleted yet: the log does not hold the
          snapshot's last entry with the same term, so it is dropped (as the install meant to);
        - entries of a new term were written but the raised term was not: the term is raised to the last entry's
          (with no vote, which is what the lost write would have recorded: a vote always goes out in an earlier
          Ready than the entries of the term it elected).
        """
        entries = self.entries
        for previous, entry in itertools.pairwise(entries):
            if entry.index != previous.index + 1:
                raise CorruptStateError(f"log gap between index {previous.index} and {entry.index}")
            if entry.term < previous.term:
                raise CorruptStateError(f"log term goes down at index {entry.index}")
        snapshot = self.snapshot
        hard = self.hard_state
        if snapshot is not None and entries:
            first, last = entries[0].index, entries[-1].index
            if first > snapshot.index + 1:
                raise CorruptStateError(f"log starts at {first}, after the snapshot at {snapshot.index} + 1")
            if last < snapshot.index or (
                first <= snapshot.index and entries[snapshot.index - first].term != snapshot.term
            ):
                entries = []
        last_index = entries[-1].index if entries else (snapshot.index if snapshot else 0)
        if hard.commit > last_index:
            raise CorruptStateError(f"commit index {hard.commit} beyond the last log index {last_index}")
        if entries and entries[-1].term > hard.term:
            hard = HardState(entries[-1].term, None, hard.commit)
        return BootState(hard, snapshot, entries)
