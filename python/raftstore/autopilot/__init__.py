"""Raft autopilot after hashicorp/raft-autopilot: server health, failure tolerance, stable promotion of new
servers, dead-server cleanup, and the configuration Consul stores through the FSM.

A deterministic library: no threads, no sleeping, no I/O. A runtime drives `Autopilot.update(now)` and
`Autopilot.reconcile(now)` on its timers through the `RaftControl` and `AutopilotDelegate` protocols.
"""

from raftstore.autopilot.command import decode_set_config_command, encode_set_config_command
from raftstore.autopilot.config import (
    AutopilotConfig,
    AutopilotConfigError,
    AutopilotSetConfigRequest,
    apply_set_config,
)
from raftstore.autopilot.driver import (
    DEFAULT_RECONCILE_INTERVAL,
    DEFAULT_UPDATE_INTERVAL,
    ActionResult,
    Autopilot,
    AutopilotDelegate,
    AutopilotError,
    RaftControl,
)
from raftstore.autopilot.jsonview import format_rfc3339, health_to_consul, parse_rfc3339, state_to_consul
from raftstore.autopilot.plan import (
    Action,
    Demote,
    FailedServers,
    Promote,
    RemoveFailed,
    RemoveStale,
    TransferLeadership,
    categorize_failed_servers,
    plan_dead_server_cleanup,
    plan_voting_changes,
)
from raftstore.autopilot.promoter import Promoter, RaftChanges, StablePromoter
from raftstore.autopilot.state import StateInputs, compute_state, failure_tolerance, is_healthy, required_quorum
from raftstore.autopilot.types import (
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

__all__ = [
    "DEFAULT_RECONCILE_INTERVAL",
    "DEFAULT_UPDATE_INTERVAL",
    "Action",
    "ActionResult",
    "Autopilot",
    "AutopilotConfig",
    "AutopilotConfigError",
    "AutopilotDelegate",
    "AutopilotError",
    "AutopilotInputError",
    "AutopilotSetConfigRequest",
    "Demote",
    "FailedServers",
    "NodeStatus",
    "Promote",
    "Promoter",
    "RaftChanges",
    "RaftControl",
    "RaftServer",
    "RaftState",
    "RemoveFailed",
    "RemoveStale",
    "Server",
    "ServerHealth",
    "ServerState",
    "ServerStats",
    "StablePromoter",
    "State",
    "StateInputs",
    "Suffrage",
    "TransferLeadership",
    "apply_set_config",
    "categorize_failed_servers",
    "compute_state",
    "decode_set_config_command",
    "encode_set_config_command",
    "failure_tolerance",
    "format_rfc3339",
    "health_to_consul",
    "is_healthy",
    "parse_rfc3339",
    "plan_dead_server_cleanup",
    "plan_voting_changes",
    "required_quorum",
    "state_to_consul",
]
