"""Raft consensus: a deterministic core (`core.RaftCore`) plus its configuration, messages and errors."""

from raftstore.raft.config import Config
from raftstore.raft.configuration import ChangeKind, Configuration, ConfigurationChange, Server, Suffrage
from raftstore.raft.core import RaftCore, bootstrap_state
from raftstore.raft.core_base import Role
from raftstore.raft.errors import (
    ConfigError,
    ConfigurationChangeError,
    CorruptStateError,
    LeadershipTransferError,
    LeadershipTransferInProgressError,
    NotLeaderError,
    RaftError,
    SnapshotError,
)
from raftstore.raft.messages import Message, SnapshotMeta
from raftstore.raft.ready import BootState, HardState, ReadState, Ready

__all__ = [
    "BootState",
    "ChangeKind",
    "Config",
    "ConfigError",
    "Configuration",
    "ConfigurationChange",
    "ConfigurationChangeError",
    "CorruptStateError",
    "HardState",
    "LeadershipTransferError",
    "LeadershipTransferInProgressError",
    "Message",
    "NotLeaderError",
    "RaftCore",
    "RaftError",
    "ReadState",
    "Ready",
    "Role",
    "Server",
    "SnapshotError",
    "SnapshotMeta",
    "Suffrage",
    "bootstrap_state",
]
