"""Deliberately broken Raft cores: the simulator must catch each one, or its checks prove nothing.

Each mutant overrides one small method of `RaftCore` (the production code path reads no flag for them):
- `CommitAnyTerm`: commits by counting replicas of an entry from any term (Raft paper Figure 8);
- `ForgetfulVoter`: does not persist its vote, so a restart lets it vote twice in a term;
- `NoPrevCheck`: a follower accepts entries without checking the previous entry's term.
"""

from __future__ import annotations

from raftstore.raft.core import RaftCore
from raftstore.raft.ready import HardState


class CommitAnyTerm(RaftCore):
    def _may_commit(self, index: int) -> bool:
        return True


class ForgetfulVoter(RaftCore):
    def _hard_state(self) -> HardState:
        return HardState(self.term, None, self.commit)


class NoPrevCheck(RaftCore):
    def _prev_entry_matches(self, index: int, term: int) -> bool:
        return index <= self.log.last_index()


MUTANTS: dict[str, type[RaftCore]] = {
    "commit-any-term": CommitAnyTerm,
    "forgetful-voter": ForgetfulVoter,
    "no-prev-check": NoPrevCheck,
}
