"""Log replication: proposals, AppendEntries with batching and bounded pipelining, heartbeats, commitment.

Invariants enforced here:
- a follower appends entries only after the previous entry (index, term) matches its log (5.3), truncates only
  on a real conflict and never below its commit index (`CoreBase._truncate`);
- the leader commits index N only when a quorum of voters of its latest configuration holds N **and** N's term
  is the current term (5.4.2; the term's no-op makes that happen promptly);
- a follower's commit index never passes the last entry it knows to match the leader's log.
"""

from __future__ import annotations

from raftstore.logstore.log import Log, LogType
from raftstore.raft.core_base import CoreBase, Progress, ProgressState, Role
from raftstore.raft.errors import LeadershipTransferInProgressError, NotLeaderError
from raftstore.raft.messages import (
    AppendEntriesRequest,
    AppendEntriesResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InstallSnapshotRequest,
)


class ReplicationMixin(CoreBase):
    # ------------------------------------------------------------------------------------------- proposals
    def _check_can_propose(self) -> None:
        if self.role is not Role.LEADER:
            raise NotLeaderError(f"{self.id} is not the leader", self.leader)
        if self.transfer_target is not None:
            raise LeadershipTransferInProgressError(f"{self.id} is transferring leadership")

    def propose(
        self, data: bytes, type: LogType = LogType.COMMAND, extensions: bytes = b"", appended_at: float = 0.0
    ) -> int:
        """Append one entry on the leader; returns its index. Replication happens at the next `ready()`, so all
        proposals made between two Readies travel in one batch."""
        self._check_can_propose()
        index = self.log.last_index() + 1
        self._append([Log(index, self.term, type, data, extensions, appended_at)])
        self.need_broadcast = True
        self._maybe_commit()
        return index

    def propose_batch(self, items: list[tuple[LogType, bytes]], appended_at: float = 0.0) -> int:
        """Append several entries at once; returns the index of the first."""
        self._check_can_propose()
        first = self.log.last_index() + 1
        self._append([Log(first + i, self.term, t, d, b"", appended_at) for i, (t, d) in enumerate(items)])
        self.need_broadcast = True
        self._maybe_commit()
        return first

    def barrier(self) -> int:
        """A BARRIER entry: the runner resolves it once every earlier entry has been applied."""
        return self.propose(b"", LogType.BARRIER)

    # ------------------------------------------------------------------------------------------- leader side
    def _tick_leader(self) -> None:
        self.heartbeat_elapsed += 1
        if self.heartbeat_elapsed >= self.hb_interval:
            self.heartbeat_elapsed = 0
            self._broadcast_heartbeat()
        if self.config.check_quorum:
            self.quorum_elapsed += 1
            if self.quorum_elapsed >= self.lease_ticks:
                self.quorum_elapsed = 0
                if not self._quorum_active():
                    self._become_follower(self.term, None)
                    self.contact_elapsed = self.hb_ticks
                    return
        if self.commit_notify_due is not None and self.now >= self.commit_notify_due:
            self.commit_notify_due = None
            self._notify_commit()

    def _quorum_active(self) -> bool:
        """Whether a quorum of voters answered within the lease timeout (check-quorum)."""
        voters = self.latest_configuration.voters
        horizon = self.now - self.lease_ticks
        active = 0
        for voter in voters:
            if voter == self.id:
                active += 1
            else:
                pr = self.progress.get(voter)
                if pr is not None and pr.last_contact >= horizon:
                    active += 1
        return active >= self._quorum(voters)

    def _broadcast_heartbeat(self) -> None:
        commit, seq, now, term = self.commit, self.read_seq, self.now, self.term
        for peer, pr in self.progress.items():
            self._send(HeartbeatRequest(self.id, peer, term, min(commit, pr.match), seq, now))

    def _notify_commit(self) -> None:
        """Tell followers that have everything but the newest commit index about it."""
        for peer, pr in self.progress.items():
            if pr.state is ProgressState.REPLICATE:
                self._send_append(peer, pr, True)

    def _send_append(self, peer: str, pr: Progress, allow_empty: bool) -> bool:
        state = pr.state
        if state is ProgressState.SNAPSHOT:
            return False
        if state is ProgressState.PROBE:
            if pr.paused:
                return False
        elif len(pr.inflight) >= self.config.max_inflight_appends:
            return False
        log = self.log
        prev = pr.next - 1
        prev_term = log.term_at(prev)
        if prev_term is None:
            self._send_snapshot(peer, pr)
            return False
        last = log.last_index()
        if pr.next <= last:
            entries = log.slice(pr.next, min(last, prev + self.config.max_append_entries))
        elif allow_empty:
            entries = []
        else:
            return False
        self._send(AppendEntriesRequest(self.id, peer, self.term, prev, prev_term, entries, self.commit))
        pr.sent_at = self.now
        if state is ProgressState.REPLICATE:
            if entries:
                pr.next = entries[-1].index + 1
                pr.inflight.append((pr.next - 1, self.now))
                return pr.next <= last
            return False
        pr.paused = True
        return False

    def _send_snapshot(self, peer: str, pr: Progress) -> None:
        meta = self.snapshot
        if meta is None:  # pragma: no cover - compaction only ever follows a snapshot
            raise AssertionError("log compacted without a snapshot")
        self._send(InstallSnapshotRequest(self.id, peer, self.term, meta))
        pr.state = ProgressState.SNAPSHOT
        pr.pending_snapshot = meta.index
        pr.sent_at = self.now
        pr.inflight.clear()

    def _handle_append_response(self, m: AppendEntriesResponse) -> None:
        if self.role is not Role.LEADER:
            return
        pr = self.progress.get(m.source)
        if pr is None:
            return
        pr.last_contact = self.now
        if m.success:
            if m.index > pr.match:
                pr.match = m.index
                advanced = True
            else:
                advanced = False
            inflight = pr.inflight
            while inflight and inflight[0][0] <= m.index:
                inflight.popleft()
            if pr.state is ProgressState.PROBE:
                pr.become_replicate()
            elif pr.state is ProgressState.SNAPSHOT:
                if pr.match >= pr.pending_snapshot:
                    pr.become_probe()
            elif pr.next <= pr.match:
                pr.next = pr.match + 1
            if advanced:
                self._maybe_commit()
                if m.source == self.transfer_target:
                    self._maybe_send_timeout_now()
            if self.role is Role.LEADER:
                while self._send_append(m.source, pr, False):
                    pass
            return
        rejected = m.index
        if pr.state is ProgressState.REPLICATE:
            if rejected <= pr.match:
                return
        elif pr.state is ProgressState.PROBE:
            if rejected != pr.next - 1:
                return
        else:
            return
        probe = m.hint_index
        if m.hint_term > 0:
            probe, _ = self.log.find_conflict_by_term(m.hint_index, m.hint_term)
        pr.become_probe()
        pr.next = max(pr.match + 1, min(rejected, probe + 1))
        self._send_append(m.source, pr, True)

    def _handle_heartbeat_response(self, m: HeartbeatResponse) -> None:
        if self.role is not Role.LEADER:
            return
        pr = self.progress.get(m.source)
        if pr is None:
            return
        pr.last_contact = self.now
        if m.sent_at > pr.ack_sent_at:
            pr.ack_sent_at = m.sent_at
        if m.read_seq > pr.read_ack:
            pr.read_ack = m.read_seq
            self._release_reads()
        if pr.match < self.log.last_index():
            if pr.state is ProgressState.PROBE:
                pr.paused = False
            elif pr.state is ProgressState.REPLICATE:
                if pr.inflight and self.now - pr.inflight[0][1] > self.retransmit_ticks:
                    pr.become_probe()
            elif self.now - pr.sent_at > self.election_ticks:
                pr.become_probe()
            self._send_append(m.source, pr, True)

    def log_persisted(self, index: int, term: int) -> None:
        """The runner made the log durable up to (`index`, `term`), as of an earlier `ready()`. Ignored when the
        entry there has changed since (a truncation in between): by the log matching property an equal (index,
        term) means the whole prefix on disk is the prefix in memory."""
        if index > self.durable_index and self.log.term_at(index) == term:
            self.durable_index = min(index, self.log.last_index())
            if self.role is Role.LEADER:
                self._maybe_commit()

    def _maybe_commit(self) -> None:
        voters = self.latest_configuration.voters
        if not voters:
            return
        last = self.log.last_index()
        if self.async_persist:
            last = min(last, self.durable_index)
        matches = []
        for voter in voters:
            if voter == self.id:
                matches.append(last)
            else:
                pr = self.progress.get(voter)
                matches.append(pr.match if pr is not None else 0)
        matches.sort(reverse=True)
        candidate = matches[self._quorum(voters) - 1]
        if candidate > self.commit and self._may_commit(candidate):
            self.commit = candidate
            self._on_commit_advanced()

    def _may_commit(self, index: int) -> bool:
        """Raft's current-term rule: count replicas only for an entry of this term (Figure 8)."""
        return self.log.term_at(index) == self.term

    # ------------------------------------------------------------------------------------------- follower side
    def _handle_append(self, m: AppendEntriesRequest) -> None:
        self._accept_leader(m.source)
        prev, prev_term, entries = m.prev_log_index, m.prev_log_term, m.entries
        commit = self.commit
        if prev < commit:
            # Everything up to our commit index matches the leader's log (leader completeness): skip that part.
            skip = commit - prev
            if skip >= len(entries):
                self._send(AppendEntriesResponse(self.id, m.source, self.term, True, commit))
                return
            prev_term = entries[skip - 1].term
            prev = commit
            entries = entries[skip:]
        log = self.log
        if not self._prev_entry_matches(prev, prev_term):
            hint, hint_term = log.find_conflict_by_term(min(prev, log.last_index()), prev_term)
            self._send(AppendEntriesResponse(self.id, m.source, self.term, False, m.prev_log_index, hint, hint_term))
            return
        last_new = prev + len(entries)
        for position, entry in enumerate(entries):
            held = log.term_at(entry.index)
            if held is None:
                self._append(entries[position:])
                break
            if held != entry.term:
                self._truncate(entry.index)
                self._append(entries[position:])
                break
        if m.leader_commit > self.commit:
            self.commit = min(m.leader_commit, last_new)
        self._send(AppendEntriesResponse(self.id, m.source, self.term, True, last_new))

    def _prev_entry_matches(self, index: int, term: int) -> bool:
        """The AppendEntries consistency check (5.3)."""
        return self.log.term_at(index) == term

    def _accept_leader(self, leader: str) -> None:
        """A valid message from this term's leader: follow it and restart the election and lease clocks."""
        if self.role is not Role.FOLLOWER:
            self._become_follower(self.term, leader)
        self.leader = leader
        self.election_elapsed = 0
        self.contact_elapsed = 0

    def _handle_heartbeat(self, m: HeartbeatRequest) -> None:
        self._accept_leader(m.source)
        if m.commit > self.commit:
            self.commit = min(m.commit, self.log.last_index())
        self._send(HeartbeatResponse(self.id, m.source, self.term, m.read_seq, m.sent_at))
