"""Raft's safety properties, checked incrementally after every simulation step.

- election safety: at most one leader per term;
- log matching: an (index, term) pair names one entry, with one predecessor term (so equal pairs imply equal
  prefixes, by induction);
- leader completeness: a new leader holds every entry any server has seen committed;
- state machine safety: every server commits (and applies) the same entry at each index;
- no committed entry lost: an entry a leader counts committed is durable on a quorum of its voters, and no server
  deletes a committed entry from its disk.
"""

from __future__ import annotations

from typing import Any

from raftstore.logstore.log import Log
from raftstore.raft.core import RaftCore
from raftstore.raft.core_base import Role
from raftstore.testing.sim.disk import SimDisk


class InvariantViolation(AssertionError):
    """A safety property broke; the message names it."""


class Invariants:
    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}
        self.entries: dict[tuple[int, int], tuple[int | None, int, bytes]] = {}
        self.committed: list[int] = [0]
        """Term of the committed entry at each index (index 0 is a sentinel)."""
        self.checked_commit: dict[str, int] = {}

    def fail(self, message: str) -> None:
        raise InvariantViolation(message)

    def on_entries(self, core: RaftCore, entries: list[Log]) -> None:
        seen = self.entries
        term_at = core.log.term_at
        for entry in entries:
            value = (term_at(entry.index - 1), int(entry.type), entry.data)
            old = seen.setdefault((entry.index, entry.term), value)
            if old != value:
                self.fail(f"log matching: {core.id} holds a different entry ({entry.index}, {entry.term})")

    def on_role(self, core: RaftCore) -> None:
        if core.role is not Role.LEADER:
            return
        leader = self.leaders.setdefault(core.term, core.id)
        if leader != core.id:
            self.fail(f"election safety: {leader} and {core.id} both lead term {core.term}")

    def on_new_leader(self, core: RaftCore) -> None:
        top = len(self.committed) - 1
        if top == 0:
            return
        log = core.log
        if log.last_index() < top:
            self.fail(f"leader completeness: leader {core.id} of term {core.term} lacks committed entry {top}")
        held = log.term_at(top)  # None only when compacted into a snapshot, checked when installed or taken
        if held is not None and held != self.committed[top]:
            self.fail(f"leader completeness: leader {core.id} of term {core.term} has a different entry {top}")

    def on_commit(self, core: RaftCore, commit: int) -> None:
        """`core`'s durable commit index is now `commit`: its entries up to there are the committed ones."""
        start = self.checked_commit.get(core.id, 0)
        if commit <= start:
            return
        committed = self.committed
        log = core.log
        for index in range(max(start + 1, log.first_index() - 1), commit + 1):
            term = log.term_at(index)
            if term is None:
                continue
            if index < len(committed):
                if committed[index] != term:
                    self.fail(f"state machine safety: {core.id} commits term {term} at {index}, not {committed[index]}")
            elif index == len(committed):
                committed.append(term)
        self.checked_commit[core.id] = commit

    def on_apply(self, server: str, entry: Log) -> None:
        committed = self.committed
        if entry.index >= len(committed) or committed[entry.index] != entry.term:
            self.fail(f"state machine safety: {server} applies ({entry.index}, {entry.term}) not known committed")

    def on_snapshot(self, server: str, index: int, term: int) -> None:
        if index < len(self.committed) and self.committed[index] != term:
            self.fail(f"state machine safety: {server} installs a snapshot at {index} of another term")

    def on_truncate(self, server: str, disk: SimDisk, index: int, covered: int) -> None:
        """`server` deletes its entries >= index; those <= `covered` are in the snapshot it installs with them."""
        committed = self.committed
        for entry in disk.log:
            if covered < entry.index and index <= entry.index < len(committed) and committed[entry.index] == entry.term:
                self.fail(f"committed entry lost: {server} deletes committed entry {entry.index}")

    def on_leader_commit(self, core: RaftCore, disks: dict[str, SimDisk]) -> None:
        commit = core.commit
        term = core.log.term_at(commit)
        voters = core.latest_configuration.voters
        durable = sum(1 for voter in voters if voter in disks and disks[voter].term_at(commit) in (term, -1))
        if durable < len(voters) // 2 + 1:
            self.fail(
                f"committed entry lost: leader {core.id} commits {commit} held durably by {durable}/{len(voters)}"
            )

    def summary(self) -> dict[str, Any]:
        return {"terms": len(self.leaders), "committed": len(self.committed) - 1}
