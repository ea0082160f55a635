"""Linearizable reads without a log write: ReadIndex / verify-leader rounds and the leader lease.

ReadIndex (thesis 6.4): once the leader has committed an entry of its term, a read is given the current commit
index and is released when a quorum of voters has answered a heartbeat sent after it was asked for; the runner
serves it once its FSM has applied that index. Lease: a leader that heard back from a quorum for heartbeats sent
at tick S may answer from its state until S + leader_lease_timeout, because every one of those voters refuses
votes for heartbeat_timeout >= leader_lease_timeout after receiving them (`ElectionMixin._in_lease`). A leadership
transfer bypasses that refusal, so once a TimeoutNow has been sent the lease is off for the rest of the term.
"""

from __future__ import annotations

from typing import Any

from raftstore.raft.core_base import CoreBase, Role
from raftstore.raft.errors import NotLeaderError
from raftstore.raft.ready import ReadState


class ReadsMixin(CoreBase):
    def read_index(self, context: Any) -> None:
        """Ask for a quorum-confirmed read; a `ReadState(context, index)` comes out in a later Ready (or the
        context shows up in `dropped_reads` if leadership is lost first)."""
        if self.role is not Role.LEADER:
            raise NotLeaderError(f"{self.id} is not the leader", self.leader)
        if self.commit < self.term_start_index:
            self.reads_waiting.append(context)
            return
        self._start_read(context)

    verify_leader = read_index

    def _start_read(self, context: Any) -> None:
        voters = self.latest_configuration.voters
        if voters == (self.id,):
            self._read_states.append(ReadState(context, self.commit))
            return
        self.read_seq += 1
        self.pending_reads.append((self.read_seq, context, self.commit))
        self.need_heartbeat = True

    def _release_reads(self) -> None:
        if not self.pending_reads:
            return
        voters = self.latest_configuration.voters
        acks = []
        for voter in voters:
            if voter == self.id:
                acks.append(self.read_seq)
            else:
                pr = self.progress.get(voter)
                acks.append(pr.read_ack if pr is not None else 0)
        acks.sort(reverse=True)
        confirmed = acks[self._quorum(voters) - 1]
        pending = self.pending_reads
        while pending and pending[0][0] <= confirmed:
            _, context, index = pending.popleft()
            self._read_states.append(ReadState(context, index))

    def _on_commit_in_term(self) -> None:
        if self.reads_waiting and self.commit >= self.term_start_index:
            waiting, self.reads_waiting = self.reads_waiting, []
            for context in waiting:
                self._start_read(context)

    def lease_read(self) -> int | None:
        """The index a lease-based read may be served at (once applied), or None when the lease does not hold."""
        if self.role is not Role.LEADER or self.commit < self.term_start_index or self.transfer_attempted:
            return None
        voters = self.latest_configuration.voters
        acks = []
        for voter in voters:
            if voter == self.id:
                acks.append(self.now)
            else:
                pr = self.progress.get(voter)
                acks.append(pr.ack_sent_at if pr is not None else -(1 << 60))
        acks.sort(reverse=True)
        if self.now < acks[self._quorum(voters) - 1] + self.lease_ticks:
            return self.commit
        return None
