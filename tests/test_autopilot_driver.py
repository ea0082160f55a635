"""The Autopilot driver against fake Raft and application delegates: a new server joins as a non-voter and is
promoted after the stabilization time, a dead voter is removed while quorum holds, followers do nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest

from raftstore.autopilot import (
    Autopilot,
    AutopilotConfig,
    AutopilotError,
    Demote,
    NodeStatus,
    Promote,
    RaftChanges,
    RaftServer,
    RemoveFailed,
    RemoveStale,
    Server,
    ServerStats,
    State,
    Suffrage,
    TransferLeadership,
    health_to_consul,
)
from raftstore.util.goduration import SECOND

pytestmark = pytest.mark.pure_python

T0 = 1_800_000_000 * SECOND


class FakeRaft:
    """A Raft node as autopilot sees it: a configuration it can change, and an index that stands still."""

    def __init__(self, voters: Sequence[str], *, leader: str = "s1") -> None:
        self.servers = {sid: RaftServer(sid, addr(sid)) for sid in voters}
        self.leader_id = leader
        self.local_is_leader = True
        self.calls: list[tuple[str, ...]] = []
        self.fail_on: set[str] = set()

    def get_configuration(self) -> Sequence[RaftServer]:
        return list(self.servers.values())

    def leader(self) -> str:
        return addr(self.leader_id) if self.leader_id else ""

    def is_leader(self) -> bool:
        return self.local_is_leader

    def last_index(self) -> int:
        return 500

    def last_term(self) -> int:
        return 2

    def _call(self, *call: str) -> None:
        self.calls.append(call)
        if call[0] in self.fail_on:
            raise RuntimeError(f"{call[0]} refused")

    def add_nonvoter(self, server_id: str, address: str) -> None:
        self._call("add_nonvoter", server_id, address)
        self.servers[server_id] = RaftServer(server_id, address, Suffrage.NONVOTER)

    def add_voter(self, server_id: str, address: str) -> None:
        self._call("add_voter", server_id, address)
        self.servers[server_id] = RaftServer(server_id, address, Suffrage.VOTER)

    def demote_voter(self, server_id: str) -> None:
        self._call("demote_voter", server_id)
        self.servers[server_id] = dataclasses.replace(self.servers[server_id], suffrage=Suffrage.NONVOTER)

    def remove_server(self, server_id: str) -> None:
        self._call("remove_server", server_id)
        del self.servers[server_id]

    def transfer_leadership(self, server_id: str, address: str) -> None:
        self._call("transfer_leadership", server_id, address)


class FakeApplication:
    """The application's view: gossip status per server, and every server answering stats caught up."""

    def __init__(self, raft: FakeRaft, config: AutopilotConfig | None = None) -> None:
        self.raft = raft
        self.config: AutopilotConfig | None = config or AutopilotConfig(min_quorum=3)
        self.status = {sid: NodeStatus.ALIVE for sid in raft.servers}
        self.removed_failed: list[str] = []
        self.states: list[State] = []

    def autopilot_config(self) -> AutopilotConfig | None:
        return self.config

    def known_servers(self) -> Mapping[str, Server]:
        return {sid: Server(sid, name=sid, address=addr(sid), node_status=st) for sid, st in self.status.items()}

    def fetch_server_stats(self, servers: Mapping[str, Server]) -> Mapping[str, ServerStats]:
        return {sid: ServerStats(SECOND // 100, 2, 500) for sid in servers if self.status[sid] is NodeStatus.ALIVE}

    def remove_failed_server(self, server: Server) -> None:
        # Consul force-leaves the member; its leader loop then removes it from Raft. The fake does both.
        self.removed_failed.append(server.id)
        self.status[server.id] = NodeStatus.LEFT
        self.raft.remove_server(server.id)

    def notify_state(self, state: State) -> None:
        self.states.append(state)


def addr(server_id: str) -> str:
    return f"{server_id}.example:8300"


def make(
    voters: Sequence[str] = ("s1", "s2", "s3"), config: AutopilotConfig | None = None
) -> tuple[Autopilot, FakeRaft, FakeApplication]:
    raft = FakeRaft(voters)
    app = FakeApplication(raft, config)
    return Autopilot(raft, app), raft, app


def test_update_computes_and_publishes_state() -> None:
    autopilot, _, app = make()
    state = autopilot.update(T0)
    assert app.states == [state] and autopilot.state is state
    assert state.leader == "s1" and state.voters == ("s1", "s2", "s3") and state.healthy
    assert health_to_consul(state)[0] == 200


def test_update_needs_a_configuration() -> None:
    autopilot, _, app = make()
    app.config = None
    with pytest.raises(AutopilotError):
        autopilot.update(T0)


def test_a_new_server_joins_as_non_voter_and_is_promoted_after_stabilization() -> None:
    autopilot, raft, app = make()
    now = T0
    for _ in range(10):  # autopilot has run long enough for stabilization to be enforced
        autopilot.update(now)
        now += 2 * SECOND
    app.status["s4"] = NodeStatus.ALIVE
    autopilot.add_server(Server("s4", address=addr("s4")))
    assert raft.servers["s4"].suffrage is Suffrage.NONVOTER
    joined_at = now
    promoted_at = None
    while now <= joined_at + 20 * SECOND:
        autopilot.update(now)
        if autopilot.reconcile(now):
            promoted_at = now
            break
        now += 2 * SECOND
    assert promoted_at == joined_at + 10 * SECOND
    assert raft.calls[-1] == ("add_voter", "s4", addr("s4"))
    assert raft.servers["s4"].suffrage is Suffrage.VOTER


def test_a_killed_voter_is_removed_while_quorum_holds() -> None:
    autopilot, raft, app = make(("s1", "s2", "s3", "s4", "s5"))
    autopilot.update(T0)
    app.status["s4"] = NodeStatus.FAILED
    app.status["s5"] = NodeStatus.FAILED
    autopilot.update(T0 + 2 * SECOND)
    assert not autopilot.state.healthy  # type: ignore[union-attr]
    known = app.known_servers()
    results = autopilot.reconcile(T0 + 2 * SECOND)
    assert [r.action for r in results] == [RemoveFailed(known["s4"]), RemoveFailed(known["s5"])]
    assert all(r.error is None for r in results)
    assert app.removed_failed == ["s4", "s5"] and sorted(raft.servers) == ["s1", "s2", "s3"]
    # MinQuorum 3: with three voters left, another failure is never cleaned up.
    app.status["s3"] = NodeStatus.FAILED
    autopilot.update(T0 + 4 * SECOND)
    assert autopilot.reconcile(T0 + 4 * SECOND) == []
    assert sorted(raft.servers) == ["s1", "s2", "s3"]


def test_stale_servers_are_removed_through_raft() -> None:
    autopilot, raft, app = make(("s1", "s2", "s3", "s4", "s5"))
    del app.status["s5"]  # in the Raft configuration, unknown to the application
    autopilot.update(T0)
    assert [r.action for r in autopilot.reconcile(T0)] == [RemoveStale("s5")]
    assert raft.calls == [("remove_server", "s5")]


def test_followers_and_disabled_reconciliation_do_nothing() -> None:
    autopilot, raft, app = make(("s1", "s2", "s3", "s4", "s5"))
    app.status["s3"] = NodeStatus.FAILED
    autopilot.update(T0)
    raft.local_is_leader = False
    assert autopilot.plan(T0) == [] and autopilot.reconcile(T0) == []
    raft.local_is_leader = True
    autopilot.reconciliation_enabled = False
    assert autopilot.reconcile(T0) == []
    autopilot.reconciliation_enabled = True
    assert [type(a) for a in autopilot.plan(T0)] == [RemoveFailed]
    autopilot.reset()
    assert autopilot.state is None and autopilot.reconcile(T0) == []


def test_a_failing_action_is_reported_and_does_not_stop_the_round() -> None:
    autopilot, raft, app = make(("s1", "s2", "s3", "s4", "s5", "s6", "s7"))
    del app.status["s6"]
    del app.status["s7"]
    raft.fail_on.add("remove_server")
    autopilot.update(T0)
    results = autopilot.reconcile(T0)
    assert [r.action for r in results] == [RemoveStale("s6"), RemoveStale("s7")]
    assert all(isinstance(r.error, RuntimeError) for r in results)


def test_leader_found_from_raft_address_when_the_application_does_not_flag_it() -> None:
    autopilot, raft, _ = make()
    raft.leader_id = "s2"
    state = autopilot.update(T0)
    assert state.leader == "s2"
    raft.leader_id = ""
    assert autopilot.update(T0 + SECOND).leader == ""


def test_add_server_replaces_an_old_id_at_the_same_address_and_is_idempotent() -> None:
    autopilot, raft, _ = make()
    autopilot.add_server(Server("s3-new", address=addr("s3")))
    assert raft.calls == [("remove_server", "s3"), ("add_nonvoter", "s3-new", addr("s3"))]
    autopilot.add_server(Server("s3-new", address=addr("s3")))
    assert len(raft.calls) == 2
    autopilot.remove_server("s3-new")
    autopilot.remove_server("absent")
    assert raft.calls[-1] == ("remove_server", "s3-new") and autopilot.num_voters() == 2


def test_promotion_plan_uses_the_promoted_servers_address() -> None:
    autopilot, raft, app = make()
    app.status["s4"] = NodeStatus.ALIVE
    raft.servers["s4"] = RaftServer("s4", addr("s4"), Suffrage.NONVOTER)
    autopilot.update(T0)
    assert autopilot.plan(T0) == [Promote("s4", addr("s4"))]


def test_with_cleanup_off_a_failed_voter_is_demoted_then_the_new_server_promoted() -> None:
    autopilot, raft, app = make(config=AutopilotConfig(cleanup_dead_servers=False))
    app.status["s3"] = NodeStatus.FAILED
    app.status["s4"] = NodeStatus.ALIVE
    raft.servers["s4"] = RaftServer("s4", addr("s4"), Suffrage.NONVOTER)
    autopilot.update(T0)
    assert [r.action for r in autopilot.reconcile(T0)] == [Demote("s3")]
    autopilot.update(T0 + 2 * SECOND)
    assert [r.action for r in autopilot.reconcile(T0 + 2 * SECOND)] == [Promote("s4", addr("s4"))]
    assert raft.calls == [("demote_voter", "s3"), ("add_voter", "s4", addr("s4"))]
    state = autopilot.update(T0 + 4 * SECOND)
    assert state.voters == ("s1", "s2", "s4") and state.failure_tolerance == 1


def test_leadership_transfer_is_executed_through_raft() -> None:
    class TransferPromoter:
        def calculate_promotions_and_demotions(self, config: AutopilotConfig, state: State, now: int) -> RaftChanges:
            return RaftChanges(leader="s2")

        def is_potential_voter(self, node_type: str) -> bool:
            return True

    raft = FakeRaft(("s1", "s2", "s3"))
    autopilot = Autopilot(raft, FakeApplication(raft), TransferPromoter())
    autopilot.update(T0)
    assert [r.action for r in autopilot.reconcile(T0)] == [TransferLeadership("s2", addr("s2"))]
    assert raft.calls == [("transfer_leadership", "s2", addr("s2"))]


def test_a_voter_removed_this_round_is_not_also_demoted() -> None:
    autopilot, raft, app = make(("s1", "s2", "s3", "s4", "s5"), config=AutopilotConfig(min_quorum=3))
    app.status["s5"] = NodeStatus.FAILED
    app.status["s6"] = NodeStatus.ALIVE
    raft.servers["s6"] = RaftServer("s6", addr("s6"), Suffrage.NONVOTER)
    autopilot.update(T0)
    # Five voters (odd) with a promotion waiting would demote s5, but cleanup removes it in the same round.
    assert [type(r.action) for r in autopilot.reconcile(T0)] == [RemoveFailed]
    assert raft.calls == [("remove_server", "s5")]
