"""The core's in-memory view of the log: entries after compaction plus the newest snapshot's (index, term).

Invariant (kept by every method): `offset <= snap_index + 1` and `last_index() >= snap_index`; entries are
contiguous from `offset`. `term_at(i)` is known for i in [offset, last] and for i == snap_index; anything else
was compacted away (None).
"""

from __future__ import annotations

from raftstore.logstore.log import Log


class RaftLog:
    __slots__ = ("entries", "offset", "snap_index", "snap_term")

    def __init__(self, entries: list[Log], snap_index: int = 0, snap_term: int = 0) -> None:
        self.snap_index = snap_index
        self.snap_term = snap_term
        self.entries = entries
        self.offset = entries[0].index if entries else snap_index + 1

    def last_index(self) -> int:
        return self.offset + len(self.entries) - 1

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snap_term

    def first_index(self) -> int:
        """The first index whose entry is held (== last_index()+1 when none is)."""
        return self.offset

    def term_at(self, index: int) -> int | None:
        position = index - self.offset
        if 0 <= position < len(self.entries):
            return self.entries[position].term
        if index == self.snap_index:
            return self.snap_term
        return None

    def entry(self, index: int) -> Log:
        return self.entries[index - self.offset]

    def slice(self, lo: int, hi: int) -> list[Log]:
        """Entries lo..hi inclusive (both within the held range)."""
        return self.entries[lo - self.offset : hi - self.offset + 1]

    def append(self, entries: list[Log]) -> None:
        self.entries.extend(entries)

    def truncate_from(self, index: int) -> None:
        """Drop entries with index >= `index` (never below the snapshot)."""
        del self.entries[index - self.offset :]

    def compact_to(self, index: int) -> None:
        """Drop entries with index <= `index`; `index` must not exceed the snapshot index."""
        drop = index - self.offset + 1
        if drop > 0:
            del self.entries[:drop]
            self.offset += drop

    def install_snapshot(self, index: int, term: int, keep_suffix: bool) -> None:
        """Make (index, term) the snapshot; keep the entries after it only if `keep_suffix`."""
        if keep_suffix:
            self.compact_to(index)
        else:
            self.entries = []
            self.offset = index + 1
        self.snap_index = index
        self.snap_term = term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as up to date as this one (5.4.1)."""
        mine = self.last_term()
        return last_term > mine or (last_term == mine and last_index >= self.last_index())

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest i <= index whose term is <= `term`, and that term (etcd's fast log backtracking). Stops at
        the first compacted index, returning it with term 0."""
        index = min(index, self.last_index())
        while index > 0:
            mine = self.term_at(index)
            if mine is None:
                return index, 0
            if mine <= term:
                return index, mine
            index -= 1
        return 0, 0
