"""What one reconcile round should do, as a list of actions, decided without touching anything.

Separating the decision from its execution lets the tests check every rule on plain values, and lets a runtime
log or dry-run the plan before the `Autopilot` driver executes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from raftstore.autopilot.config import AutopilotConfig
from raftstore.autopilot.promoter import Promoter
from raftstore.autopilot.types import AutopilotInputError, NodeStatus, RaftServer, RaftState, Server, State, Suffrage


@dataclasses.dataclass(frozen=True)
class Promote:
    """Give a non-voter voting rights (Raft AddVoter with its current address)."""

    id: str
    address: str


@dataclasses.dataclass(frozen=True)
class Demote:
    """Take a voter's voting rights away (Raft DemoteVoter)."""

    id: str


@dataclasses.dataclass(frozen=True)
class TransferLeadership:
    id: str
    address: str


@dataclasses.dataclass(frozen=True)
class RemoveStale:
    """Remove from the Raft configuration a server the application does not know at all (Raft RemoveServer)."""

    id: str


@dataclasses.dataclass(frozen=True)
class RemoveFailed:
    """Ask the application to remove a server it knows as failed or left (Consul: force-leave, then Raft removal)."""

    server: Server


Removal = RemoveStale | RemoveFailed
Action = Promote | Demote | TransferLeadership | RemoveStale | RemoveFailed


def plan_voting_changes(config: AutopilotConfig, state: State, promoter: Promoter, now: int) -> list[Action]:
    """One round of voting-rights changes: promotions if any apply, else demotions, else a leadership transfer.

    Never several kinds in one round: each kind changes the Raft configuration, and the next round sees the
    cluster's response to it before the next kind is tried (raft-autopilot's rule, inherited from Consul).
    Nothing happens without a leader in the state.
    """
    if not state.leader:
        return []
    changes = promoter.calculate_promotions_and_demotions(config, state, now)
    promotions: list[Action] = []
    for server_id in changes.promotions:
        server = state.servers.get(server_id)
        # Only servers in the state, without voting rights, and healthy right now are promoted.
        if server is None or server.has_voting_rights or not server.health.healthy:
            continue
        promotions.append(Promote(server_id, server.server.address))
    if promotions:
        return promotions
    demotions: list[Action] = []
    for server_id in changes.demotions:
        server = state.servers.get(server_id)
        if server is None or server.state is RaftState.NON_VOTER or server.state is RaftState.LEADER:
            continue  # a leader is never demoted under itself; it must transfer leadership first
        demotions.append(Demote(server_id))
    if demotions:
        return demotions
    if changes.leader and changes.leader != state.leader and changes.leader in state.servers:
        return [TransferLeadership(changes.leader, state.servers[changes.leader].server.address)]
    return []


@dataclasses.dataclass(frozen=True)
class FailedServers:
    """The four kinds of dead server, each sorted by ID, in the order they are pruned."""

    stale_non_voters: tuple[str, ...] = ()
    stale_voters: tuple[str, ...] = ()
    failed_non_voters: tuple[Server, ...] = ()
    failed_voters: tuple[Server, ...] = ()


def categorize_failed_servers(raft_servers: Sequence[RaftServer], known: Mapping[str, Server]) -> FailedServers:
    """Stale: in the Raft configuration but unknown to the application. Failed: known, in the configuration, and
    not alive. Known servers outside the Raft configuration are not autopilot's to remove."""
    in_raft = {server.id: server for server in raft_servers}
    failed_voters: list[Server] = []
    failed_non_voters: list[Server] = []
    for server_id, server in known.items():
        raft_server = in_raft.get(server_id)
        if raft_server is None or server.node_status is NodeStatus.ALIVE:
            continue
        (failed_voters if raft_server.suffrage is Suffrage.VOTER else failed_non_voters).append(server)
    stale = [server for server in raft_servers if server.id not in known]
    return FailedServers(
        stale_non_voters=tuple(sorted(s.id for s in stale if s.suffrage is not Suffrage.VOTER)),
        stale_voters=tuple(sorted(s.id for s in stale if s.suffrage is Suffrage.VOTER)),
        failed_non_voters=tuple(sorted(failed_non_voters, key=lambda s: s.id)),
        failed_voters=tuple(sorted(failed_voters, key=lambda s: s.id)),
    )


def plan_dead_server_cleanup(
    config: AutopilotConfig, raft_servers: Sequence[RaftServer], known: Mapping[str, Server], promoter: Promoter
) -> list[Removal]:
    """Removals for one round, in the order stale non-voters, stale voters, failed non-voters, failed voters.

    Two limits hold over the whole round, whatever the order (the property tests check both):
    - at most min(potential voters - 1, current voters - 1) // 2 current voters are removed, so the voters that
      remain always form a strict majority of the voters the round started with (raft-autopilot budgets on potential
      voters alone, which with many non-voters could remove the last voter; the second bound rules that out);
    - no potential voter is removed when that would leave fewer potential voters than MinQuorum.
    A potential voter is a current voter, or a known non-voter whose node type the promoter would make a voter.
    """
    if not config.cleanup_dead_servers:
        return []
    if len({server.id for server in raft_servers}) != len(raft_servers):
        raise AutopilotInputError("a server appears twice in the Raft configuration")
    failed = categorize_failed_servers(raft_servers, known)
    current_voter = {server.id: server.suffrage is Suffrage.VOTER for server in raft_servers}
    potential = {
        server.id
        for server in raft_servers
        if current_voter[server.id]
        or (server.id in known and promoter.is_potential_voter(known[server.id].node_type or "voter"))
    }
    remaining_potential = len(potential)
    voter_budget = (min(len(potential), sum(current_voter.values())) - 1) // 2
    actions: list[Removal] = []

    def admit(server_id: str) -> bool:
        nonlocal remaining_potential, voter_budget
        if server_id in potential and remaining_potential - 1 < config.min_quorum:
            return False
        if current_voter.get(server_id, False):
            if voter_budget < 1:
                return False
            voter_budget -= 1
        if server_id in potential:
            remaining_potential -= 1
        return True

    for server_id in failed.stale_non_voters + failed.stale_voters:
        if admit(server_id):
            actions.append(RemoveStale(server_id))
    for server in failed.failed_non_voters + failed.failed_voters:
        if admit(server.id):
            actions.append(RemoveFailed(server))
    return actions
