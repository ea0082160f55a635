"""Scenario tests after hashicorp/raft's raft_test.go and etcd raft's interaction tests, on the simulator.

Every scenario runs on `Harness` (no random faults, hand-driven partitions and crashes), so all invariants are
checked after every step here as well.
"""

from __future__ import annotations

import json

import pytest

from raftstore.logstore.log import Log, LogType
from raftstore.raft import (
    Configuration,
    LeadershipTransferError,
    LeadershipTransferInProgressError,
    NotLeaderError,
    RaftCore,
    Role,
    Server,
)
from raftstore.raft.config import Config
from raftstore.raft.messages import InstallSnapshotRequest, SnapshotMeta
from raftstore.raft.ready import BootState, HardState
from raftstore.testing.sim import Harness

pytestmark = pytest.mark.pure_python


def _settle(sim: Harness, servers: tuple[str, ...] | None = None) -> str:
    sim.run_until(
        lambda: (
            (lead := sim.leader()) is not None
            and sim.core(lead).commit == sim.core(lead).log.last_index()
            and sim.applied_everywhere(sim.core(lead).commit, servers or sim.core(lead).latest_configuration.ids())
        ),
        4000,
    )
    leader = sim.leader()
    assert leader is not None
    return leader


def _write(sim: Harness, count: int, prefix: str = "v") -> int:
    index = 0
    for i in range(count):
        index = sim.propose(f"{prefix}{i}")
    return index


def test_leader_failure_elects_a_new_leader_and_keeps_committed_entries() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    index = _write(sim, 5)
    _settle(sim)
    sim.crash(leader)
    new = sim.wait_leader()
    assert new != leader and sim.core(new).term > 2
    assert sim.core(new).log.term_at(index) is not None
    sim.restart(leader)
    _settle(sim)
    assert sim.nodes[leader].fsm == {"k": "v4"}


def test_follower_far_behind_catches_up_through_a_snapshot() -> None:
    sim = Harness(3, config_overrides={"snapshot_threshold": 8, "trailing_logs": 2}, trace=True)
    leader = _settle(sim)
    lagging = next(s for s in sim.ids if s != leader)
    sim.partition(tuple(s for s in sim.ids if s != lagging), (lagging,))
    _write(sim, 40)
    _settle(sim, tuple(s for s in sim.ids if s != lagging))
    assert sim.core(leader).log.first_index() > sim.core(lagging).log.last_index() + 1
    sim.heal()
    _settle(sim)
    assert any("InstallSnapshotRequest" in line and f"target='{lagging}'" in line for line in sim.trace)
    assert sim.nodes[lagging].fsm == {"k": "v39"}


def test_partitioned_leader_steps_down_and_its_uncommitted_entries_are_dropped() -> None:
    sim = Harness(5)
    old = _settle(sim)
    sim.partition((old,))
    stale = sim.act(old, lambda core: core.propose(json.dumps(["put", "k", "lost"]).encode()))
    sim.run(sim.core(old).lease_ticks * 2 + 2)
    assert sim.core(old).role is Role.FOLLOWER  # check-quorum
    new = sim.wait_leader()
    assert new != old
    _write(sim, 3, "new")
    sim.heal()
    _settle(sim)
    assert sim.core(old).log.term_at(stale) != 2 and sim.nodes[old].fsm == {"k": "new2"}


def test_prevote_keeps_a_rejoining_partitioned_server_from_disrupting() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    term = sim.core(leader).term
    loner = next(s for s in sim.ids if s != leader)
    sim.partition((loner,))
    sim.run(600)  # many election timeouts in isolation
    assert sim.core(loner).term == term  # pre-vote never raised it
    sim.heal()
    sim.run(200)
    assert sim.leader() == leader and sim.core(leader).term == term


def test_membership_changes_during_a_partition() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    sim.add_server("s4")
    sim.act(leader, lambda core: core.add_nonvoter("s4", "s4"))
    _settle(sim)
    sim.act(leader, lambda core: core.add_voter("s4", "s4"))
    _settle(sim)
    assert sim.core(leader).latest_configuration.voters == ("s1", "s2", "s3", "s4")
    follower = next(s for s in sim.ids if s != leader and s != "s4")
    sim.partition((follower,))
    sim.act(leader, lambda core: core.remove_server(follower))
    _settle(sim, tuple(s for s in sim.ids if s != follower))
    assert follower not in sim.core(leader).latest_configuration.ids()
    sim.heal()
    _write(sim, 3)
    sim.run(300)
    assert sim.leader() == leader  # the removed server's pre-votes do not disturb the cluster
    with pytest.raises(Exception, match="not committed yet"):
        sim.act(leader, lambda core: (core.demote_voter("s4"), core.demote_voter("s2")))


def test_removing_the_leader_hands_over_to_the_rest() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    sim.act(leader, lambda core: core.remove_server(leader))
    rest = tuple(s for s in sim.ids if s != leader)
    sim.run_until(lambda: sim.core(leader).role is Role.FOLLOWER)
    new = sim.wait_leader(among=rest)
    assert sim.core(new).latest_configuration.voters == rest
    _write(sim, 2)
    _settle(sim, rest)


def test_configuration_change_preconditions() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    follower = next(s for s in sim.ids if s != leader)
    with pytest.raises(NotLeaderError):
        sim.core(follower).add_voter("s9")
    index, _ = sim.core(leader).get_configuration()
    with pytest.raises(Exception, match="configuration changed since"):
        sim.act(leader, lambda core: core.add_nonvoter("s9", prev_index=index + 100))
    sim.act(leader, lambda core: core.add_nonvoter("s9", prev_index=index))


class TestLeadershipTransfer:
    def test_to_the_most_up_to_date_voter(self) -> None:
        sim = Harness(3)
        leader = _settle(sim)
        target = sim.act(leader, lambda core: core.transfer_leadership())
        assert sim.wait_leader(among=(target,)) == target

    def test_to_a_named_lagging_voter_catches_it_up_first(self) -> None:
        sim = Harness(5)
        leader = _settle(sim)
        target = next(s for s in sim.ids if s != leader)
        sim.partition((target,))
        index = _write(sim, 10)
        sim.heal()
        sim.act(leader, lambda core: core.transfer_leadership(target))
        with pytest.raises(LeadershipTransferInProgressError):
            sim.core(leader).propose(b"refused while transferring")
        with pytest.raises(LeadershipTransferInProgressError):
            sim.core(leader).transfer_leadership()
        assert sim.wait_leader(among=(target,)) == target
        assert sim.core(target).log.term_at(index) is not None
        assert sim.core(leader).lease_read() is None

    def test_invalid_targets(self) -> None:
        sim = Harness(3)
        leader = _settle(sim)
        sim.add_server("s4")
        sim.act(leader, lambda core: core.add_nonvoter("s4"))
        for target, message in ((leader, "itself"), ("s4", "not a voter"), ("nobody", "not a voter")):
            with pytest.raises(LeadershipTransferError, match=message):
                sim.core(leader).transfer_leadership(target)
        follower = next(s for s in sim.ids if s != leader and s != "s4")
        with pytest.raises(NotLeaderError):
            sim.core(follower).transfer_leadership()

    def test_times_out_when_the_target_is_unreachable(self) -> None:
        sim = Harness(3)
        leader = _settle(sim)
        target = next(s for s in sim.ids if s != leader)
        sim.partition((target,))
        _write(sim, 2)
        sim.act(leader, lambda core: core.transfer_leadership(target))
        sim.run_until(lambda: sim.core(leader).transfer_target is None)
        assert sim.leader() == leader
        sim.propose("accepted again")


def test_barrier_and_reads_wait_for_quorum_and_fail_without_it() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    barrier = sim.act(leader, lambda core: core.barrier())
    sim.run_until(lambda: sim.applied_everywhere(barrier))
    assert sim.core(leader).lease_read() == barrier
    sim.act(leader, lambda core: core.read_index("confirmed"))
    sim.run_until(lambda: bool(sim.confirmed_reads))
    assert sim.confirmed_reads == [("confirmed", barrier)]
    sim.partition((leader,))
    sim.act(leader, lambda core: core.read_index("never confirmed"))
    sim.run_until(lambda: sim.core(leader).lease_read() is None)
    assert sim.core(leader).role is Role.LEADER  # the lease ends before check-quorum gives up
    sim.run_until(lambda: sim.core(leader).role is Role.FOLLOWER)
    assert sim.dropped_reads == ["never confirmed"] and len(sim.confirmed_reads) == 1


def _follower(entries: list[Log], commit: int) -> RaftCore:
    config = Config(
        local_id="b",
        tick_interval=0.001,
        heartbeat_timeout=0.02,
        election_timeout=0.02,
        leader_lease_timeout=0.01,
        commit_timeout=0.001,
    )
    return RaftCore(config, BootState(HardState(3, None, commit), None, entries), seed=1)


def _snapshot(index: int, term: int) -> InstallSnapshotRequest:
    configuration = Configuration((Server("a"), Server("b"), Server("c")))
    return InstallSnapshotRequest("a", "b", 3, SnapshotMeta(index, term, configuration, 1), {"k": "snap"})


def test_install_snapshot_keeps_a_matching_suffix() -> None:
    """hashicorp/raft #697: a follower holding the snapshot's last entry keeps what follows it."""
    entries = [Log(1, 1, LogType.CONFIGURATION, Configuration((Server("a"), Server("b"), Server("c"))).encode())]
    entries += [Log(i, 2) for i in range(2, 9)]
    core = _follower(entries, 2)
    core.step(_snapshot(5, 2))
    ready = core.ready()
    assert ready.snapshot is not None and ready.truncate_from is None and ready.compact_to == 5
    assert core.log.last_index() == 8 and core.log.first_index() == 6 and core.commit == 5
    assert ready.messages[0].success  # type: ignore[union-attr]


def test_install_snapshot_discards_a_conflicting_log() -> None:
    entries = [Log(1, 1, LogType.CONFIGURATION, Configuration((Server("a"), Server("b"), Server("c"))).encode())]
    entries += [Log(i, 2) for i in range(2, 9)]
    core = _follower(entries, 2)
    core.step(_snapshot(5, 3))
    ready = core.ready()
    assert ready.truncate_from == 1 and ready.compact_to == 5
    assert core.log.last_index() == 5 and core.log.last_term() == 3 and core.applied == 5
    # A snapshot the follower already covers changes nothing.
    core.step(_snapshot(4, 3))
    assert core.ready().snapshot is None and core.log.last_index() == 5


def test_membership_changes_wait_for_an_abandoned_transfer() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    target = next(s for s in sim.ids if s != leader)
    sim.partition((target,))
    _write(sim, 2)
    sim.act(leader, lambda core: core.transfer_leadership(target))
    with pytest.raises(LeadershipTransferInProgressError):
        sim.core(leader).remove_server(target)
    sim.run_until(lambda: sim.core(leader).transfer_target is None)
    sim.act(leader, lambda core: core.remove_server(target))
    _settle(sim, tuple(s for s in sim.ids if s != target))
    assert sim.leader() == leader and target not in sim.core(leader).latest_configuration.ids()


def test_transfer_without_a_target_skips_non_voters() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    sim.add_server("s4")
    sim.act(leader, lambda core: core.add_nonvoter("s4"))
    _settle(sim)
    voters = tuple(s for s in sim.core(leader).latest_configuration.voters if s != leader)
    target = sim.act(leader, lambda core: core.transfer_leadership())
    assert target in voters
    assert sim.wait_leader(among=(target,)) == target


def test_non_voters_never_campaign() -> None:
    sim = Harness(3)
    leader = _settle(sim)
    nonvoter = next(s for s in sim.ids if s != leader)
    sim.act(leader, lambda core: core.demote_voter(nonvoter))
    _settle(sim)
    term = sim.core(nonvoter).term
    sim.crash(leader)  # the one voter left cannot win alone, and the non-voter must not try
    sim.run(800)
    assert sim.leader() is None and sim.core(nonvoter).term == term
    assert sim.core(nonvoter).role is Role.FOLLOWER
    sim.restart(leader)
    _settle(sim)


def test_install_snapshot_amid_unwritten_entries_leaves_no_gap_on_disk() -> None:
    """A runner that steps several messages per Ready: entries appended, then a snapshot, in one Ready."""
    from raftstore.raft.messages import AppendEntriesRequest
    from raftstore.testing.sim.disk import SimDisk

    config_entry = Log(1, 1, LogType.CONFIGURATION, Configuration((Server("a"), Server("b"), Server("c"))).encode())
    for snapshot_term, keep in ((2, True), (3, False)):
        core = _follower([config_entry], 1)
        disk = SimDisk(BootState(HardState(3, None, 1), None, [config_entry]))
        core.step(AppendEntriesRequest("a", "b", 3, 1, 1, [Log(i, 2) for i in range(2, 9)], 1))
        core.step(_snapshot(5, snapshot_term))
        if not keep:
            core.step(AppendEntriesRequest("a", "b", 3, 5, 3, [Log(6, 3), Log(7, 3)], 5))
        for op in SimDisk.ops(core.ready()):
            disk.apply(op)
        assert [e.index for e in disk.log] == ([6, 7, 8] if keep else [6, 7])
        assert [e.index for e in core.log.entries] == [e.index for e in disk.log]
