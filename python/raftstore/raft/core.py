"""`RaftCore`: the deterministic Raft state machine (no I/O, no threads, no clock), after etcd's raft.

Drive it with `tick()` (one `Config.tick_interval` elapsed), `step(message)` and the leader operations
(`propose`, `barrier`, `read_index`, `lease_read`, membership changes, `transfer_leadership`, `snapshot_taken`);
then take `ready()` and handle it as `raftstore.raft.ready` describes (persist, sync, send, apply). The same
inputs in the same order with the same seed give the same outputs, which is what the simulator relies on.

The concerns live in their own modules: `election`, `replication`, `membership`, `snapshot`, `reads`,
`transfer`; `core_base` holds the shared state. This module assembles them and applies the term rules every
message goes through first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftstore.logstore.log import Log, LogType
from raftstore.raft.configuration import Configuration
from raftstore.raft.core_base import Role
from raftstore.raft.election import ElectionMixin
from raftstore.raft.errors import RaftError
from raftstore.raft.membership import MembershipMixin
from raftstore.raft.messages import (
    AppendEntriesRequest,
    AppendEntriesResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InstallSnapshotRequest,
    InstallSnapshotResponse,
    Message,
    RequestVoteRequest,
    RequestVoteResponse,
    TimeoutNowRequest,
)
from raftstore.raft.reads import ReadsMixin
from raftstore.raft.ready import BootState, HardState
from raftstore.raft.replication import ReplicationMixin
from raftstore.raft.snapshot import SnapshotMixin
from raftstore.raft.transfer import TransferMixin

_FROM_LEADER = (AppendEntriesRequest, HeartbeatRequest, InstallSnapshotRequest)


def bootstrap_state(configuration: Configuration) -> BootState:
    """The state hashicorp's BootstrapCluster writes: term 1 and the configuration as entry 1 of term 1. Every
    initial server gets the same, so their logs agree from the start."""
    return BootState(
        hard_state=HardState(term=1),
        entries=[Log(1, 1, LogType.CONFIGURATION, configuration.encode())],
    )


class RaftCore(ElectionMixin, ReplicationMixin, MembershipMixin, SnapshotMixin, ReadsMixin, TransferMixin):
    """One server's Raft state machine; see the module docstring."""

    def __init__(self, config: Any, boot: BootState | None = None, seed: int | None = None) -> None:
        super().__init__(config, boot, seed)
        self._handlers: dict[type, Callable[[Any], None]] = {
            AppendEntriesRequest: self._handle_append,
            AppendEntriesResponse: self._handle_append_response,
            HeartbeatRequest: self._handle_heartbeat,
            HeartbeatResponse: self._handle_heartbeat_response,
            RequestVoteRequest: self._handle_vote_request,
            RequestVoteResponse: self._handle_vote_response,
            InstallSnapshotRequest: self._handle_install_snapshot,
            InstallSnapshotResponse: self._handle_install_snapshot_response,
            TimeoutNowRequest: self._handle_timeout_now,
        }

    def tick(self) -> None:
        self.now += 1
        if self.role is Role.LEADER:
            self._tick_leader()
            if self.role is Role.LEADER:
                self._tick_transfer()
        else:
            self._tick_election()

    def step(self, m: Message) -> None:
        """Handle one message addressed to this server; the term rules come first (5.1, pre-vote, stickiness)."""
        cls = type(m)
        handler = self._handlers.get(cls)
        if handler is None or m.target != self.id:
            raise RaftError(f"{self.id} cannot handle {cls.__name__} addressed to {getattr(m, 'target', None)!r}")
        if m.term > self.term:
            if cls is RequestVoteRequest:
                assert isinstance(m, RequestVoteRequest)
                if not m.leadership_transfer and self._in_lease():
                    self._send(RequestVoteResponse(self.id, m.source, self.term, False, m.pre_vote))
                    return
                if not m.pre_vote:
                    self._become_follower(m.term, None)
            elif cls is RequestVoteResponse and m.pre_vote and m.granted:  # type: ignore[union-attr]
                pass  # a granted pre-vote carries the term the candidate asked about; nobody changed term
            else:
                self._become_follower(m.term, m.source if cls in _FROM_LEADER else None)
        elif m.term < self.term:
            if cls in _FROM_LEADER:
                # Tell a stale leader about the newer term so it steps down.
                self._send(AppendEntriesResponse(self.id, m.source, self.term, False, 0))
            elif cls is RequestVoteRequest and m.pre_vote:  # type: ignore[union-attr]
                self._send(RequestVoteResponse(self.id, m.source, self.term, False, True))
            return
        handler(m)

    def _on_commit_advanced(self) -> None:
        if self.commit_notify_due is None:
            self.commit_notify_due = self.now + self.commit_ticks
        self._on_commit_in_term()
        self._step_down_if_removed()

    # ----------------------------------------------------------------------------------------------- status
    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    def status(self) -> dict[str, Any]:
        """hashicorp Stats()-style snapshot of the core's state."""
        index, configuration = self.configs[-1]
        return {
            "id": self.id,
            "state": self.role.value,
            "term": self.term,
            "vote": self.vote,
            "leader": self.leader,
            "last_log_index": self.log.last_index(),
            "last_log_term": self.log.last_term(),
            "commit_index": self.commit,
            "applied_index": self.applied,
            "last_snapshot_index": self.log.snap_index,
            "last_snapshot_term": self.log.snap_term,
            "latest_configuration": [(s.id, s.suffrage.name) for s in configuration.servers],
            "latest_configuration_index": index,
            "num_peers": len(configuration.servers) - (1 if configuration.get(self.id) else 0),
        }
