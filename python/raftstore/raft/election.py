"""Elections: randomized timeouts, pre-vote (thesis 9.6), votes, leader stickiness and TimeoutNow.

Invariants enforced here:
- at most one vote per term, and the vote is part of the hard state the next Ready persists before the reply
  granting it is sent (Ready order);
- a server that heard from a leader within the minimum election timeout (`heartbeat_timeout`), or that booted less
  than that ago, refuses to vote for anyone else unless the request comes from a leadership transfer; this keeps a
  rejoining partitioned server from disrupting the cluster and is what makes the leader lease sound;
- only voters of the latest configuration campaign (plus a voter whose removal has not committed yet, thesis
  4.2.2), and only the votes of the latest configuration's voters count.
"""

from __future__ import annotations

from raftstore.logstore.log import Log, LogType
from raftstore.raft.core_base import CoreBase, Role
from raftstore.raft.messages import RequestVoteRequest, RequestVoteResponse, TimeoutNowRequest


class ElectionMixin(CoreBase):
    def _in_lease(self) -> bool:
        """Whether a leader is (or may still be) in charge as far as this server knows."""
        if self.role is Role.LEADER:
            return True
        return self.role is Role.FOLLOWER and self.contact_elapsed < self.hb_ticks

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        self.contact_elapsed += 1
        if self.election_elapsed >= self.timeout:
            if self._may_campaign():
                self._campaign(transfer=False)
            else:
                self._reset_election_timer(self.hb_ticks)

    def _may_campaign(self) -> bool:
        """Voters of the latest configuration campaign; so does a voter whose removal is not committed yet, since
        the servers of the new configuration may need it to lead until the change commits (thesis 4.2.2)."""
        if self.latest_configuration.is_voter(self.id):
            return True
        return self.latest_configuration_index > self.commit and self.committed_configuration()[1].is_voter(self.id)

    def campaign(self) -> None:
        """Start an election now (tests and bootstrap of a single server); pre-vote first unless disabled."""
        if self.role is not Role.LEADER and self._may_campaign():
            self._campaign(transfer=False)

    def _campaign(self, transfer: bool) -> None:
        """Pre-vote first (unless disabled or this is a leadership transfer), then a real election."""
        if transfer or self.config.pre_vote_disabled:
            self._campaign_real(transfer)
            return
        self.role = Role.PRE_CANDIDATE
        self._request_votes(self.term + 1, pre_vote=True, transfer=False)

    def _campaign_real(self, transfer: bool) -> None:
        self.role = Role.CANDIDATE
        self.term += 1
        self.vote = self.id
        self._request_votes(self.term, pre_vote=False, transfer=transfer)

    def _request_votes(self, term: int, pre_vote: bool, transfer: bool) -> None:
        voters = self.latest_configuration.voters
        self.leader = None
        self.votes = {self.id: True} if self.id in voters else {}
        self._reset_election_timer(self.election_ticks)
        if len(self.votes) >= self._quorum(voters):
            if pre_vote:
                self._campaign_real(False)
            else:
                self._become_leader()
            return
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for voter in voters:
            if voter != self.id:
                self._send(RequestVoteRequest(self.id, voter, term, last_index, last_term, pre_vote, transfer))

    def _handle_vote_request(self, m: RequestVoteRequest) -> None:
        # Unlike hashicorp, a candidate missing from this server's configuration is not refused: with
        # configurations taking effect on append, the voter may simply lag behind a change that made the candidate
        # a voter, and refusing can deadlock the cluster. Pre-vote and the refusal while a leader is known
        # already keep removed servers from disrupting it.
        can_vote = (
            self.vote == m.source or (self.vote is None and self.leader is None) or (m.pre_vote and m.term > self.term)
        )
        granted = can_vote and self.log.is_up_to_date(m.last_log_index, m.last_log_term)
        if granted and not m.pre_vote:
            self.vote = m.source
            self._reset_election_timer(self.hb_ticks)
        term = m.term if (granted and m.pre_vote) else self.term
        self._send(RequestVoteResponse(self.id, m.source, term, granted, m.pre_vote))

    def _handle_vote_response(self, m: RequestVoteResponse) -> None:
        expected = Role.PRE_CANDIDATE if m.pre_vote else Role.CANDIDATE
        if self.role is not expected:
            return
        voters = self.latest_configuration.voters
        if m.source not in voters:
            return
        self.votes[m.source] = m.granted
        quorum = self._quorum(voters)
        granted = sum(1 for vote in self.votes.values() if vote)
        if granted >= quorum:
            if m.pre_vote:
                self._campaign_real(False)
            else:
                self._become_leader()
        elif len(self.votes) - granted > len(voters) - quorum:
            self._become_follower(self.term, None)

    def _handle_timeout_now(self, m: TimeoutNowRequest) -> None:
        if self.role is Role.FOLLOWER and m.term == self.term and self._may_campaign():
            self._campaign(transfer=True)

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self.progress.clear()
        self.heartbeat_elapsed = 0
        self.quorum_elapsed = 0
        self.transfer_target = None
        self.transfer_attempted = False
        self.timeout_now_sent = False
        self._sync_progress()
        index = self.log.last_index() + 1
        self.term_start_index = index
        # A no-op opens the term: entries of earlier terms commit only once an entry of this term does (5.4.2).
        self._append([Log(index, self.term, LogType.NOOP)])
        self.need_broadcast = True
        self._maybe_commit()
