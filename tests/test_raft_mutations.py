"""Proof that the simulator's checks can fail: each deliberately broken core is caught.

- no previous-entry check and a vote that is not persisted: found by randomized seeds of the ordinary simulation;
- commit without the current-term rule: the randomized simulation rarely builds the schedule of Raft's Figure 8
  (a new leader's no-op usually travels with the old entries it carries): about one seed in a thousand, so the
  simulator also replays that schedule on purpose, and the correct core survives the same schedule.
"""

from __future__ import annotations

import json

import pytest

from raftstore.raft.core import RaftCore
from raftstore.raft.core_base import Role
from raftstore.testing.sim import Harness, InvariantViolation, run_seed
from raftstore.testing.sim.mutants import CommitAnyTerm, ForgetfulVoter, NoPrevCheck

pytestmark = pytest.mark.pure_python


def _first_failure(factory: type[RaftCore], servers: int, seeds: range) -> tuple[int, str] | None:
    for seed in seeds:
        result = run_seed(seed, servers, core_factory=factory)
        if not result.ok:
            return seed, result.error
    return None


def test_follower_without_previous_entry_check_is_caught() -> None:
    failure = _first_failure(NoPrevCheck, 3, range(400))
    assert failure is not None, "no seed caught the missing AppendEntries consistency check"
    assert "log matching" in failure[1] or "committed" in failure[1] or "state machine" in failure[1], failure


def test_vote_not_persisted_is_caught() -> None:
    failure = _first_failure(ForgetfulVoter, 3, range(1000))
    assert failure is not None, "no seed caught the unpersisted vote"
    assert "election safety" in failure[1], failure


def _figure_8(factory: type[RaftCore]) -> Harness:
    """Raft paper Figure 8 on five servers, one entry per AppendEntries so old entries travel alone."""
    sim = Harness(5, seed=7, core_factory=factory, config_overrides={"max_append_entries": 1})
    first = sim.wait_leader()
    sim.run_until(lambda: sim.core(first).commit >= 2 and sim.applied_everywhere(sim.core(first).commit))
    others = [s for s in sim.ids if s != first]
    partner, rest = others[0], tuple(others[1:])
    # (a) The leader replicates an entry to one follower only.
    sim.partition((first, partner), rest)
    index = sim.act(first, lambda core: core.propose(json.dumps(["put", "k", "old"]).encode()))
    sim.run_until(lambda: sim.core(partner).log.last_index() >= index)
    # (b) A leader elected among the others writes the same index in a later term, then is cut off at once.
    sim.run_until(lambda: any(sim.core(s).role is Role.LEADER for s in rest), 3000)
    middle = next(s for s in rest if sim.core(s).role is Role.LEADER)
    voters = tuple(s for s in rest if s != middle)
    sim.partition((middle,), (first, partner, *voters))
    assert sim.core(middle).log.term_at(index) not in (None, sim.core(first).log.term_at(index))
    # (c) The old leader's side elects one of the servers holding the old entry, which replicates it.
    sim.run_until(lambda: (lead := sim.leader()) in (first, partner) and sim.core(lead).term > sim.core(middle).term)
    lead = sim.leader()
    assert lead is not None
    other = partner if lead == first else first
    # (d) As soon as it counts the old entry committed, the new leader and its peer are cut off.
    sim.run_until(lambda: sim.core(lead).commit >= index, 3000)
    sim.partition((lead, other), (middle, *voters))
    sim.run(400)
    sim.heal()
    sim.run_until(lambda: sim.leader() is not None and sim.applied_everywhere(sim.core(sim.leader()).commit), 4000)
    return sim


@pytest.mark.slow
def test_commit_without_current_term_rule_is_caught_by_random_seeds() -> None:
    failure = _first_failure(CommitAnyTerm, 3, range(1000))
    assert failure is not None, "no seed caught the missing current-term rule (see the directed Figure 8 test)"
    assert "leader completeness" in failure[1] or "state machine" in failure[1] or "committed" in failure[1], failure


def test_commit_without_current_term_rule_is_caught() -> None:
    with pytest.raises(InvariantViolation, match=r"leader completeness|state machine safety|committed entry lost"):
        _figure_8(CommitAnyTerm)


def test_correct_core_survives_figure_8() -> None:
    sim = _figure_8(RaftCore)
    leader = sim.leader()
    assert leader is not None and all(node.fsm == sim.nodes[leader].fsm for node in sim.nodes.values())
