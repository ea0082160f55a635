"""Computing autopilot's `State` from one round of inputs, with raft-autopilot's rules (state.go, types.go).

The function is pure: the same `StateInputs` always give the same `State`, which is what the golden tests pin.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence

from raftstore.autopilot.config import AutopilotConfig
from raftstore.autopilot.types import (
    NODE_TYPE_VOTER,
    AutopilotInputError,
    NodeStatus,
    RaftServer,
    RaftState,
    Server,
    ServerHealth,
    ServerState,
    ServerStats,
    State,
    Suffrage,
)

_SUFFRAGE_STATE = {
    Suffrage.VOTER: RaftState.VOTER,
    Suffrage.NONVOTER: RaftState.NON_VOTER,
    Suffrage.STAGING: RaftState.STAGING,
}


@dataclasses.dataclass(frozen=True)
class StateInputs:
    """Everything one state computation looks at."""

    now: int
    config: AutopilotConfig
    raft_servers: Sequence[RaftServer]
    known_servers: Mapping[str, Server]
    fetched_stats: Mapping[str, ServerStats]
    leader_id: str
    is_leader: bool
    """Whether the server computing the state is the leader: then `latest_index`/`last_term` are the leader's."""
    latest_index: int = 0
    last_term: int = 0
    current_state: State | None = None
    first_state_time: int | None = None
    """None: take it from `current_state`, or `now` when this is the first state."""


def is_healthy(
    stats: ServerStats, node_status: NodeStatus, leader_term: int, leader_index: int, config: AutopilotConfig
) -> bool:
    """raft-autopilot's health rule. Each clause is one way a server is not fit to count toward quorum."""
    if leader_index == 0 or leader_term == 0:
        return False  # no leader known (or Raft not bootstrapped): nothing can be judged healthy
    if node_status is not NodeStatus.ALIVE:
        return False
    if stats.last_contact > config.last_contact_threshold or stats.last_contact < 0:
        return False
    if stats.last_term != leader_term:
        return False
    return stats.last_index + config.max_trailing_logs >= leader_index


def required_quorum(voters: int) -> int:
    return voters // 2 + 1


def failure_tolerance(voters: int, healthy_voters: int) -> int:
    """How many more voters may fail while a quorum of healthy voters remains."""
    return max(0, healthy_voters - required_quorum(voters))


def compute_state(inputs: StateInputs) -> State:
    """The next `State`: one ServerState per server in the Raft configuration (servers only known to the
    application are not in it), `Healthy` only if every server is, Voters sorted leader-first."""
    if inputs.is_leader:
        leader_index, leader_term = inputs.latest_index, inputs.last_term
    elif inputs.leader_id in inputs.fetched_stats:
        leader_stats = inputs.fetched_stats[inputs.leader_id]
        leader_index, leader_term = leader_stats.last_index, leader_stats.last_term
    else:
        leader_index = leader_term = 0  # no leader: every server reports unhealthy
    if inputs.first_state_time is not None:
        first_state_time = inputs.first_state_time
    elif inputs.current_state is not None:
        first_state_time = inputs.current_state.first_state_time
    else:
        first_state_time = inputs.now

    servers: dict[str, ServerState] = {}
    for raft_server in inputs.raft_servers:
        if raft_server.id in servers:
            # Raft never lists an ID twice; if a runtime does, which entry wins would be a guess.
            raise AutopilotInputError(f"server {raft_server.id!r} appears twice in the Raft configuration")
        servers[raft_server.id] = _server_state(inputs, raft_server, leader_term, leader_index)

    leader = ""
    voters: list[str] = []
    healthy_voters = 0
    for server_id, server_state in servers.items():
        if server_state.state is RaftState.LEADER:
            leader = server_id
        if server_state.has_voting_rights:
            voters.append(server_id)
            healthy_voters += server_state.health.healthy
    state = State(
        healthy=all(s.health.healthy for s in servers.values()),
        failure_tolerance=failure_tolerance(len(voters), healthy_voters),
        servers=servers,
        leader=leader,
        voters=(),
        first_state_time=first_state_time,
    )
    return dataclasses.replace(state, voters=tuple(sort_servers(voters, state)))


def _server_state(inputs: StateInputs, raft_server: RaftServer, leader_term: int, leader_index: int) -> ServerState:
    # Sources in increasing priority: the Raft entry, the previous state, the application's view, fresh stats.
    state = _SUFFRAGE_STATE.get(raft_server.suffrage, RaftState.NONE)
    server = Server(id=raft_server.id, address=raft_server.address)
    stats = ServerStats()
    previous_health: ServerHealth | None = None
    previous = inputs.current_state.servers.get(raft_server.id) if inputs.current_state is not None else None
    if previous is not None:
        server, stats, previous_health = previous.server, previous.stats, previous.health
    known = inputs.known_servers.get(raft_server.id)
    # A server in the Raft configuration that the application does not know has gone: report it as left.
    server = known if known is not None else dataclasses.replace(server, node_status=NodeStatus.LEFT)
    # Raft's address is the truth for Raft; the leader flag comes from who actually leads.
    server = dataclasses.replace(server, address=raft_server.address, node_type=NODE_TYPE_VOTER)
    if raft_server.id == inputs.leader_id:
        state = RaftState.LEADER
        server = dataclasses.replace(server, is_leader=True)
    stats = inputs.fetched_stats.get(raft_server.id, stats)
    healthy = is_healthy(stats, server.node_status, leader_term, leader_index, inputs.config)
    if previous_health is None or previous_health.healthy != healthy:
        health = ServerHealth(healthy=healthy, stable_since=inputs.now)
    else:
        health = previous_health
    return ServerState(server=server, state=state, stats=stats, health=health)


def server_less_than(first: str, second: str, state: State) -> bool:
    """raft-autopilot's ordering: the leader, then voters, then healthy before unhealthy, then (among equally
    healthy servers) the healthy one stable longest first and the unhealthy one unstable longest last, then ID."""
    a, b = state.servers[first], state.servers[second]
    if a.state is RaftState.LEADER:
        return True
    if b.state is RaftState.LEADER:
        return False
    if (a.state is RaftState.VOTER) != (b.state is RaftState.VOTER):
        return a.state is RaftState.VOTER
    if a.health.healthy != b.health.healthy:
        return a.health.healthy
    if a.health.stable_since < b.health.stable_since:
        return a.health.healthy
    if b.health.stable_since < a.health.stable_since:
        return not a.health.healthy
    return first < second


def sort_servers(ids: Sequence[str], state: State) -> list[str]:
    def compare(first: str, second: str) -> int:
        if first == second:
            return 0
        return -1 if server_less_than(first, second, state) else 1

    return sorted(ids, key=functools.cmp_to_key(compare))
