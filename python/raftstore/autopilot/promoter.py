"""Deciding voting rights: the `Promoter` protocol and raft-autopilot's default, the StablePromoter."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from raftstore.autopilot.config import AutopilotConfig
from raftstore.autopilot.types import NODE_TYPE_VOTER, NodeStatus, RaftState, State


@dataclasses.dataclass(frozen=True)
class RaftChanges:
    """What a promoter wants: servers to make voters, voters to demote, and a leader ("" = keep it)."""

    promotions: tuple[str, ...] = ()
    demotions: tuple[str, ...] = ()
    leader: str = ""


class Promoter(Protocol):
    def calculate_promotions_and_demotions(self, config: AutopilotConfig, state: State, now: int) -> RaftChanges: ...

    def is_potential_voter(self, node_type: str) -> bool: ...


@dataclasses.dataclass(frozen=True)
class StablePromoter:
    """Every server is meant to be a voter: promote each non-voter once it has been healthy for the stabilization
    time; never move leadership.

    `demote_failed_voters` (raftstore's addition, on by default): when stable non-voters are waiting and a voter has
    failed or left while the voter count is odd, demote one such voter first, alone in its round. The promotion in
    the next round then restores an odd voter count made of live servers, instead of an even count that still
    counts the dead voter toward quorum (which matters when dead-server cleanup is off or held back by MinQuorum).
    """

    demote_failed_voters: bool = True

    def calculate_promotions_and_demotions(self, config: AutopilotConfig, state: State, now: int) -> RaftChanges:
        min_stable = state.server_stabilization_time(config.server_stabilization_time, now)
        # Staging servers are skipped: they are not ready to be judged yet.
        promotions = tuple(
            sorted(
                server_id
                for server_id, server in state.servers.items()
                if server.state is RaftState.NON_VOTER and server.health.is_stable(now, min_stable)
            )
        )
        if promotions and self.demote_failed_voters:
            failed_voters = sorted(
                server_id
                for server_id, server in state.servers.items()
                if server.state is RaftState.VOTER and server.server.node_status in (NodeStatus.FAILED, NodeStatus.LEFT)
            )
            if failed_voters and len(state.voters) % 2 == 1:
                return RaftChanges(demotions=(failed_voters[0],))
        return RaftChanges(promotions=promotions)

    def is_potential_voter(self, node_type: str) -> bool:
        return node_type == NODE_TYPE_VOTER
