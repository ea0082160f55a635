"""Errors of the Raft layer, named after hashicorp/raft's (api.go) so that callers can map one to the other."""

from __future__ import annotations


class RaftError(Exception):
    """Base class of every error the Raft layer raises."""


class ConfigError(RaftError, ValueError):
    """A `Config` field is out of range; the message names the field and the rule (hashicorp ValidateConfig)."""


class NotLeaderError(RaftError):
    """The operation needs the leader (ErrNotLeader); `leader` is the known leader's id, if any."""

    def __init__(self, message: str, leader: str | None = None) -> None:
        super().__init__(message)
        self.leader = leader


class LeadershipTransferInProgressError(RaftError):
    """The leader refuses new proposals while it hands leadership over (ErrLeadershipTransferInProgress)."""


class ConfigurationChangeError(RaftError):
    """A membership change was refused: another is uncommitted, the index precondition failed, or it is invalid."""


class LeadershipTransferError(RaftError):
    """A leadership transfer cannot start (no other voter, unknown or non-voting target, transfer to self)."""


class SnapshotError(RaftError):
    """A snapshot request is inconsistent with the log (index beyond what was applied, or already compacted)."""


class CorruptStateError(RaftError):
    """The persisted state handed to the core on start contradicts itself (gaps, commit beyond the log...)."""


class CantBootstrapError(RaftError):
    """Bootstrap was asked for on a server that already has state (ErrCantBootstrap)."""


class LeadershipLostError(RaftError):
    """Leadership was lost before the request committed (ErrLeadershipLost); it may or may not have been applied."""


class RaftShutdownError(RaftError):
    """The node is shut down (ErrRaftShutdown)."""


class ApplyTimeoutError(RaftError):
    """The request did not complete within its timeout (ErrEnqueueTimeout); it may still be applied later."""
