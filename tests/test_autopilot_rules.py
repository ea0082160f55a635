"""Autopilot's rules one branch at a time: health, failure tolerance, stabilization, promotion, reconcile order,
dead-server categories and pruning limits (plus hypothesis properties for the limits and the tolerance formula)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.autopilot import (
    AutopilotConfig,
    AutopilotInputError,
    Demote,
    NodeStatus,
    Promote,
    RaftChanges,
    RaftServer,
    RaftState,
    RemoveFailed,
    RemoveStale,
    Server,
    ServerHealth,
    ServerState,
    ServerStats,
    StablePromoter,
    State,
    StateInputs,
    Suffrage,
    TransferLeadership,
    categorize_failed_servers,
    compute_state,
    failure_tolerance,
    format_rfc3339,
    is_healthy,
    parse_rfc3339,
    plan_dead_server_cleanup,
    plan_voting_changes,
    required_quorum,
)
from raftstore.util.goduration import MILLISECOND, SECOND

pytestmark = pytest.mark.pure_python

CONFIG = AutopilotConfig()  # 200ms, 250 trailing logs, 10s stabilization
T0 = 1_700_000_000 * SECOND


# -- health rule ---------------------------------------------------------------------------------------------


def healthy(stats: ServerStats, status: NodeStatus = NodeStatus.ALIVE, term: int = 3, index: int = 1000) -> bool:
    return is_healthy(stats, status, term, index, CONFIG)


GOOD = ServerStats(last_contact=10 * MILLISECOND, last_term=3, last_index=1000)


def test_a_caught_up_alive_server_is_healthy() -> None:
    assert healthy(GOOD)


@pytest.mark.parametrize(("term", "index"), [(0, 1000), (3, 0), (0, 0)])
def test_no_leader_term_or_index_means_unhealthy(term: int, index: int) -> None:
    assert not healthy(GOOD, term=term, index=index)


@pytest.mark.parametrize("status", [NodeStatus.UNKNOWN, NodeStatus.FAILED, NodeStatus.LEFT])
def test_a_server_the_application_does_not_see_alive_is_unhealthy(status: NodeStatus) -> None:
    assert not healthy(GOOD, status=status)


def test_last_contact_threshold_is_inclusive_and_negative_means_never() -> None:
    assert healthy(dataclasses.replace(GOOD, last_contact=200 * MILLISECOND))
    assert not healthy(dataclasses.replace(GOOD, last_contact=200 * MILLISECOND + 1))
    assert not healthy(dataclasses.replace(GOOD, last_contact=-1))
    assert healthy(dataclasses.replace(GOOD, last_contact=0))


def test_a_different_term_is_unhealthy_either_way() -> None:
    assert not healthy(dataclasses.replace(GOOD, last_term=2))
    assert not healthy(dataclasses.replace(GOOD, last_term=4))


def test_max_trailing_logs_boundary() -> None:
    assert healthy(dataclasses.replace(GOOD, last_index=750))  # 750 + 250 == 1000
    assert not healthy(dataclasses.replace(GOOD, last_index=749))
    assert healthy(dataclasses.replace(GOOD, last_index=1005))  # ahead of the leader's snapshot of its own index


# -- failure tolerance -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voters", "healthy_voters", "expected"),
    [(1, 1, 0), (2, 2, 0), (3, 3, 1), (3, 2, 0), (4, 4, 1), (5, 5, 2), (5, 3, 0), (5, 4, 1), (7, 7, 3), (0, 0, 0)],
)
def test_failure_tolerance_table(voters: int, healthy_voters: int, expected: int) -> None:
    assert failure_tolerance(voters, healthy_voters) == expected


@given(st.integers(0, 50).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_failure_tolerance_is_how_many_healthy_voters_can_fail_before_quorum_is_lost(pair: tuple[int, int]) -> None:
    voters, healthy_voters = pair
    tolerance = failure_tolerance(voters, healthy_voters)
    assert tolerance >= 0
    if tolerance > 0:
        assert healthy_voters - tolerance == required_quorum(voters)  # losing `tolerance` more still leaves quorum
    else:
        assert healthy_voters <= required_quorum(voters)  # losing one more healthy voter may lose quorum


# -- state computation and stabilization -------------------------------------------------------------------------


def cluster_inputs(
    now: int, *, voters: int = 3, non_voters: tuple[str, ...] = (), current: State | None = None
) -> StateInputs:
    raft = [RaftServer(f"s{i}", f"10.0.0.{i}:8300") for i in range(1, voters + 1)]
    raft += [RaftServer(sid, f"10.0.1.{n}:8300", Suffrage.NONVOTER) for n, sid in enumerate(non_voters)]
    known = {s.id: Server(s.id, name=s.id, node_status=NodeStatus.ALIVE) for s in raft}
    stats = {s.id: ServerStats(0, 3, 1000) for s in raft}
    return StateInputs(now, CONFIG, raft, known, stats, "s1", True, 1000, 3, current)


def test_stable_since_is_kept_while_health_is_unchanged_and_reset_when_it_flips() -> None:
    first = compute_state(cluster_inputs(T0))
    assert first.first_state_time == T0
    second = compute_state(cluster_inputs(T0 + 2 * SECOND, current=first))
    assert second.servers["s2"].health == ServerHealth(True, T0) and second.first_state_time == T0
    sick = cluster_inputs(T0 + 4 * SECOND, current=second)
    sick = dataclasses.replace(sick, fetched_stats={**sick.fetched_stats, "s2": ServerStats(-1, 3, 1000)})
    third = compute_state(sick)
    assert third.servers["s2"].health == ServerHealth(False, T0 + 4 * SECOND)
    assert third.servers["s3"].health == ServerHealth(True, T0)
    assert not third.healthy and third.failure_tolerance == 0


def test_stabilization_is_not_enforced_until_autopilot_has_run_that_long() -> None:
    state = compute_state(cluster_inputs(T0))
    assert state.server_stabilization_time(10 * SECOND, T0 + 10 * SECOND) == 0
    assert state.server_stabilization_time(10 * SECOND, T0 + 10 * SECOND + 1) == 10 * SECOND


def test_stats_from_the_previous_state_are_kept_when_a_fetch_misses_a_server() -> None:
    first = compute_state(cluster_inputs(T0))
    missing = cluster_inputs(T0 + 2 * SECOND, current=first)
    missing = dataclasses.replace(missing, fetched_stats={k: v for k, v in missing.fetched_stats.items() if k != "s3"})
    assert compute_state(missing).servers["s3"].stats == ServerStats(0, 3, 1000)


def test_known_servers_outside_the_raft_configuration_are_not_in_the_state() -> None:
    inputs = cluster_inputs(T0)
    inputs = dataclasses.replace(inputs, known_servers={**inputs.known_servers, "s9": Server("s9")})
    assert set(compute_state(inputs).servers) == {"s1", "s2", "s3"}


def test_leader_address_and_flag_follow_raft() -> None:
    inputs = cluster_inputs(T0)
    known = dict(inputs.known_servers)
    known["s2"] = dataclasses.replace(known["s2"], address="stale:1")
    state = compute_state(dataclasses.replace(inputs, known_servers=known))
    assert state.servers["s2"].server.address == "10.0.0.2:8300"
    assert state.servers["s1"].server.is_leader and state.servers["s1"].state is RaftState.LEADER


# -- promotion and reconcile order -----------------------------------------------------------------------------


def promoter_round(now: int, state: State) -> list[object]:
    return list(plan_voting_changes(CONFIG, state, StablePromoter(), now))


def test_new_server_is_promoted_only_after_the_stabilization_time() -> None:
    start = compute_state(cluster_inputs(T0))
    later = T0 + 60 * SECOND  # autopilot has run long enough: stabilization is enforced
    joined = compute_state(cluster_inputs(later, non_voters=("s4",), current=start))
    assert joined.servers["s4"].health.stable_since == later
    assert promoter_round(later + 9 * SECOND, joined) == []
    assert promoter_round(later + 10 * SECOND, joined) == [Promote("s4", "10.0.1.0:8300")]


def test_right_after_start_stable_non_voters_are_promoted_at_once() -> None:
    state = compute_state(cluster_inputs(T0, non_voters=("s4",)))
    assert promoter_round(T0 + 1, state) == [Promote("s4", "10.0.1.0:8300")]


def test_unhealthy_or_staging_servers_are_not_promoted() -> None:
    inputs = cluster_inputs(T0, non_voters=("s4", "s5"))
    inputs = dataclasses.replace(inputs, fetched_stats={**inputs.fetched_stats, "s4": ServerStats(-1, 3, 1000)})
    raft = [dataclasses.replace(s, suffrage=Suffrage.STAGING) if s.id == "s5" else s for s in inputs.raft_servers]
    state = compute_state(dataclasses.replace(inputs, raft_servers=raft))
    assert state.servers["s5"].state is RaftState.STAGING
    assert promoter_round(T0 + SECOND, state) == []


def test_no_voting_changes_without_a_leader() -> None:
    state = compute_state(dataclasses.replace(cluster_inputs(T0, non_voters=("s4",)), leader_id="", is_leader=False))
    assert state.leader == "" and promoter_round(T0 + SECOND, state) == []


def _with_status(state: State, server_id: str, status: NodeStatus) -> State:
    servers = dict(state.servers)
    entry = servers[server_id]
    servers[server_id] = dataclasses.replace(entry, server=dataclasses.replace(entry.server, node_status=status))
    return dataclasses.replace(state, servers=servers)


def test_a_failed_voter_is_demoted_alone_before_a_promotion_when_voters_are_odd() -> None:
    state = _with_status(compute_state(cluster_inputs(T0, non_voters=("s4",))), "s3", NodeStatus.FAILED)
    assert promoter_round(T0 + SECOND, state) == [Demote("s3")]
    # Without a server waiting for promotion, the failed voter is left to dead-server cleanup.
    alone = _with_status(compute_state(cluster_inputs(T0)), "s3", NodeStatus.FAILED)
    assert promoter_round(T0 + SECOND, alone) == []
    # With an even voter count the promotion itself restores an odd count.
    even = _with_status(compute_state(cluster_inputs(T0, voters=4, non_voters=("s9",))), "s3", NodeStatus.FAILED)
    assert promoter_round(T0 + SECOND, even) == [Promote("s9", "10.0.1.0:8300")]
    plain = StablePromoter(demote_failed_voters=False)
    assert plain.calculate_promotions_and_demotions(CONFIG, state, T0 + SECOND) == RaftChanges(promotions=("s4",))


class FixedPromoter:
    def __init__(self, changes: RaftChanges) -> None:
        self.changes = changes

    def calculate_promotions_and_demotions(self, config: AutopilotConfig, state: State, now: int) -> RaftChanges:
        return self.changes

    def is_potential_voter(self, node_type: str) -> bool:
        return True


def test_never_several_kinds_of_change_in_one_round() -> None:
    state = compute_state(cluster_inputs(T0, non_voters=("s4",)))
    everything = RaftChanges(promotions=("s4",), demotions=("s3",), leader="s2")
    assert plan_voting_changes(CONFIG, state, FixedPromoter(everything), T0) == [Promote("s4", "10.0.1.0:8300")]
    no_promotion = RaftChanges(promotions=("s2", "unknown"), demotions=("s3", "s4", "s1"), leader="s2")
    assert plan_voting_changes(CONFIG, state, FixedPromoter(no_promotion), T0) == [Demote("s3")]
    transfer = RaftChanges(promotions=("s1",), demotions=("s4",), leader="s2")
    assert plan_voting_changes(CONFIG, state, FixedPromoter(transfer), T0) == [
        TransferLeadership("s2", "10.0.0.2:8300")
    ]
    assert plan_voting_changes(CONFIG, state, FixedPromoter(RaftChanges(leader="s1")), T0) == []
    assert plan_voting_changes(CONFIG, state, FixedPromoter(RaftChanges(leader="zz")), T0) == []


# -- dead-server categories and pruning --------------------------------------------------------------------------


def raft_config(voters: list[str], non_voters: list[str] = []) -> list[RaftServer]:  # noqa: B006 - never mutated
    return [RaftServer(v, f"{v}:8300") for v in voters] + [
        RaftServer(n, f"{n}:8300", Suffrage.NONVOTER) for n in non_voters
    ]


def known(alive: list[str], failed: list[str] = [], left: list[str] = []) -> dict[str, Server]:  # noqa: B006
    servers = {s: Server(s, node_status=NodeStatus.ALIVE) for s in alive}
    servers.update({s: Server(s, node_status=NodeStatus.FAILED) for s in failed})
    servers.update({s: Server(s, node_status=NodeStatus.LEFT) for s in left})
    return servers


def test_categories() -> None:
    raft = raft_config(["a", "b", "c", "d"], ["e", "f", "g"])
    failed = categorize_failed_servers(raft, known(["a", "e", "x"], failed=["b", "f"], left=["c"]))
    assert failed.stale_voters == ("d",) and failed.stale_non_voters == ("g",)
    assert [s.id for s in failed.failed_voters] == ["b", "c"]
    assert [s.id for s in failed.failed_non_voters] == ["f"]


def cleanup(config: AutopilotConfig, raft: list[RaftServer], servers: dict[str, Server]) -> list[str]:
    actions = plan_dead_server_cleanup(config, raft, servers, StablePromoter())
    return [a.id if isinstance(a, RemoveStale) else f"failed:{a.server.id}" for a in actions]  # type: ignore[union-attr]


def test_cleanup_order_and_kinds() -> None:
    raft = raft_config(["a", "b", "c", "d", "e", "v1", "v2"], ["n1", "n2"])
    servers = known(["a", "b", "c", "d", "e"], failed=["v2", "n2"])  # v1 and n1 are stale
    assert cleanup(AutopilotConfig(), raft, servers) == ["n1", "v1", "failed:n2", "failed:v2"]
    actions = plan_dead_server_cleanup(AutopilotConfig(), raft, servers, StablePromoter())
    assert isinstance(actions[0], RemoveStale) and isinstance(actions[2], RemoveFailed)


def test_cleanup_is_off_when_configured_off() -> None:
    raft = raft_config(["a", "b", "c"], ["n"])
    assert cleanup(AutopilotConfig(cleanup_dead_servers=False), raft, known(["a", "b"], failed=["c", "n"])) == []


def test_never_more_than_a_minority_of_voters_in_one_round() -> None:
    raft = raft_config(["a", "b", "c", "d", "e"])
    # Three of five failed: (5 - 1) // 2 = 2 may go, in ID order.
    assert cleanup(AutopilotConfig(), raft, known(["a", "b"], failed=["c", "d", "e"])) == ["failed:c", "failed:d"]
    # Three voters: one may go; two voters: none.
    assert cleanup(AutopilotConfig(), raft_config(["a", "b", "c"]), known(["a"], failed=["b", "c"])) == ["failed:b"]
    assert cleanup(AutopilotConfig(), raft_config(["a", "b"]), known(["a"], failed=["b"])) == []
    # The budget is shared by stale and failed voters.
    assert cleanup(AutopilotConfig(), raft, known(["a", "b"], failed=["e"])) == ["c", "d"]


def test_min_quorum_floor() -> None:
    raft = raft_config(["a", "b", "c", "d", "e"])
    servers = known(["a", "b", "c"], failed=["d", "e"])
    assert cleanup(AutopilotConfig(min_quorum=5), raft, servers) == []
    assert cleanup(AutopilotConfig(min_quorum=4), raft, servers) == ["failed:d"]
    assert cleanup(AutopilotConfig(min_quorum=3), raft, servers) == ["failed:d", "failed:e"]


def test_many_non_voters_never_let_cleanup_remove_the_last_voters() -> None:
    raft = raft_config(["a", "b"], ["n1", "n2", "n3"])
    assert cleanup(AutopilotConfig(), raft, known(["b", "n1", "n2", "n3"], failed=["a"])) == []
    raft = raft_config(["a"], ["n1", "n2", "n3", "n4"])
    assert cleanup(AutopilotConfig(), raft, known(["n1", "n2", "n3", "n4"], failed=["a"])) == []


def test_non_voters_are_removed_regardless_of_the_voter_budget_but_count_toward_min_quorum() -> None:
    raft = raft_config(["a", "b"], ["n1", "n2"])
    # Stale non-voters are not potential voters: always removable.
    assert cleanup(AutopilotConfig(min_quorum=9), raft, known(["a", "b"])) == ["n1", "n2"]
    # Known failed non-voters are potential voters: MinQuorum protects them too.
    servers = known(["a", "b"], failed=["n1", "n2"])
    assert cleanup(AutopilotConfig(), raft, servers) == ["failed:n1", "failed:n2"]
    assert cleanup(AutopilotConfig(min_quorum=3), raft, servers) == ["failed:n1"]


@st.composite
def clusters(draw: st.DrawFn) -> tuple[AutopilotConfig, list[RaftServer], dict[str, Server]]:
    count = draw(st.integers(1, 9))
    raft = []
    servers = {}
    for index in range(count):
        server_id = f"s{index}"
        suffrage = draw(st.sampled_from([Suffrage.VOTER, Suffrage.VOTER, Suffrage.NONVOTER, Suffrage.STAGING]))
        raft.append(RaftServer(server_id, f"{server_id}:8300", suffrage))
        status = draw(st.sampled_from([None, *NodeStatus]))  # None: unknown to the application (stale)
        if status is not None:
            servers[server_id] = Server(server_id, node_status=status)
    config = AutopilotConfig(min_quorum=draw(st.integers(0, 7)))
    return config, raft, servers


@given(clusters())
def test_cleanup_keeps_a_majority_of_voters_and_the_min_quorum(
    case: tuple[AutopilotConfig, list[RaftServer], dict[str, Server]],
) -> None:
    config, raft, servers = case
    removed = set(cleanup(config, raft, servers))
    removed = {r.removeprefix("failed:") for r in removed}
    voters = {s.id for s in raft if s.suffrage is Suffrage.VOTER}
    potential = voters | {s.id for s in raft if s.id in servers}
    removed_voters = removed & voters
    assert len(removed_voters) <= max(0, (len(potential) - 1) // 2)
    assert len(removed_voters) <= max(0, (len(voters) - 1) // 2)  # the rest stay a strict majority of the voters
    if removed & potential:
        assert len(potential - removed) >= config.min_quorum
    # Only dead servers are ever removed: stale ones, or known ones that are not alive.
    for server_id in removed:
        assert server_id not in servers or servers[server_id].node_status is not NodeStatus.ALIVE


def test_state_fixture_sanity() -> None:
    # The helper builds what the tests above assume: three healthy voters led by s1.
    state = compute_state(cluster_inputs(T0))
    assert state.voters == ("s1", "s2", "s3") and state.healthy and state.failure_tolerance == 1
    assert isinstance(state.servers["s1"], ServerState)


def test_bad_inputs_get_the_layers_error() -> None:
    with pytest.raises(AutopilotInputError, match="node_status must be one of"):
        Server("x", node_status="dead")  # type: ignore[arg-type]
    with pytest.raises(AutopilotInputError, match="suffrage must be one of"):
        RaftServer("x", "x:1", "observer")  # type: ignore[arg-type]
    assert Server("x", node_status="alive").node_status is NodeStatus.ALIVE  # type: ignore[arg-type]
    twice = dataclasses.replace(cluster_inputs(T0), raft_servers=[RaftServer("a", "a:1"), RaftServer("a", "b:1")])
    with pytest.raises(AutopilotInputError, match="appears twice"):
        compute_state(twice)
    with pytest.raises(AutopilotInputError, match="appears twice"):
        plan_dead_server_cleanup(CONFIG, twice.raft_servers, {}, StablePromoter())


# -- time format -------------------------------------------------------------------------------------------------


def test_rfc3339_is_gos_time_json_form() -> None:
    assert format_rfc3339(0) == "1970-01-01T00:00:00Z"
    assert format_rfc3339(T0 + 500 * MILLISECOND) == "2023-11-14T22:13:20.5Z"
    assert format_rfc3339(T0 + 1) == "2023-11-14T22:13:20.000000001Z"
    assert parse_rfc3339("2023-11-15T00:13:20.5+02:00") == T0 + 500 * MILLISECOND
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp"):
        parse_rfc3339("2023-11-15 00:13:20")


@given(st.integers(0, 253402300799 * SECOND + SECOND - 1))
def test_rfc3339_round_trips(unix_ns: int) -> None:
    assert parse_rfc3339(format_rfc3339(unix_ns)) == unix_ns
