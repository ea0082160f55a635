"""The values autopilot reasons about (after hashicorp/raft-autopilot's types.go), as immutable dataclasses.

Times are integer Unix nanoseconds and durations integer nanoseconds: the library never reads a clock, so a
runtime passes `time.time_ns()` and tests pass whatever instant they need, and nothing is lost to float rounding.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import TypeVar


class NodeStatus(str, enum.Enum):
    """The application's (gossip's) view of a server, independent of Raft."""

    UNKNOWN = "unknown"
    ALIVE = "alive"
    FAILED = "failed"
    LEFT = "left"


class RaftState(str, enum.Enum):
    """A server's role in the Raft configuration as autopilot reports it (`Status` in Consul's /state)."""

    NONE = "none"
    LEADER = "leader"
    VOTER = "voter"
    NON_VOTER = "non-voter"
    STAGING = "staging"


class Suffrage(str, enum.Enum):
    """hashicorp/raft's server suffrage in a configuration."""

    VOTER = "voter"
    NONVOTER = "nonvoter"
    STAGING = "staging"


_E = TypeVar("_E", bound=enum.Enum)


class AutopilotInputError(ValueError):
    """Inputs autopilot cannot reason about (an unknown status, a configuration listing a server twice, ...)."""


def _coerce(kind: type[_E], value: object, field: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise AutopilotInputError(f"{field} must be one of {choices}, got {value!r}") from None


NODE_TYPE_VOTER = "voter"
"""The only node type the StablePromoter assigns: every server is meant to end up a voter."""


@dataclasses.dataclass(frozen=True)
class RaftServer:
    """One entry of the Raft configuration."""

    id: str
    address: str
    suffrage: Suffrage = Suffrage.VOTER

    def __post_init__(self) -> None:
        # Accept the enum's string value ("nonvoter") from a runtime, refuse anything else at the boundary.
        object.__setattr__(self, "suffrage", _coerce(Suffrage, self.suffrage, "suffrage"))


@dataclasses.dataclass(frozen=True)
class Server:
    """A server as the application knows it (Consul: a serf member with the consul role)."""

    id: str
    name: str = ""
    address: str = ""
    node_status: NodeStatus = NodeStatus.UNKNOWN
    version: str = ""
    meta: Mapping[str, str] | None = None
    raft_version: int = 3
    is_leader: bool = False
    node_type: str = ""
    """The promoter's classification ("voter" for the StablePromoter); "" until a promoter has set it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_status", _coerce(NodeStatus, self.node_status, "node_status"))


@dataclasses.dataclass(frozen=True)
class ServerStats:
    """The leader's view of one server's replication."""

    last_contact: int = 0
    """Nanoseconds since the leader last heard from the server; negative means never (unhealthy)."""
    last_term: int = 0
    last_index: int = 0


@dataclasses.dataclass(frozen=True)
class ServerHealth:
    healthy: bool = False
    stable_since: int = 0
    """Unix nanoseconds of the last change of `healthy` (or of the server's first appearance)."""

    def is_stable(self, now: int, min_stable_duration: int) -> bool:
        """Healthy, and healthy for at least `min_stable_duration` nanoseconds."""
        return self.healthy and now - self.stable_since >= min_stable_duration


@dataclasses.dataclass(frozen=True)
class ServerState:
    server: Server
    state: RaftState
    stats: ServerStats
    health: ServerHealth

    @property
    def has_voting_rights(self) -> bool:
        return self.state in (RaftState.VOTER, RaftState.LEADER)


@dataclasses.dataclass(frozen=True)
class State:
    """One computed snapshot of the cluster's health."""

    healthy: bool
    failure_tolerance: int
    servers: Mapping[str, ServerState]
    leader: str
    voters: tuple[str, ...]
    first_state_time: int
    """When autopilot computed its first state: stabilization is not enforced before it is that old."""

    def server_stabilization_time(self, stabilization: int, now: int) -> int:
        """The stabilization time to enforce: 0 until autopilot has run longer than it, else `stabilization`
        (otherwise every server would look unstable right after a leader election and nothing would be promoted
        on time)."""
        return stabilization if now - self.first_state_time > stabilization else 0
