"""The contract between the HTTP API (and the embedding API) and whatever runs the replicated state.

Why a protocol: the HTTP layer must not know whether it sits on a single in-process server or on one member of a
Raft cluster. Two implementations exist: `DirectBackend` (one server, commands applied straight to the FSM, for
tests of the HTTP layer alone) and `RaftBackend` (a `raftstore.raft.Node`; `raftstore agent` uses it, including in
``--dev`` mode where it is a single-server in-memory cluster).

Every coroutine here runs on the caller's event loop (the HTTP server's); implementations bridge to their own
threads. Invariants every implementation keeps:

- `apply` returns only after the command is committed and applied locally, so a read that follows on the same
  server sees it (Consul's read-your-writes on the leader).
- `state` is read again on every request: a snapshot restore swaps the store object.
- `NotLeaderError` carries the leader's HTTP address when it is known, so the HTTP layer can forward the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from raftstore.fsm.messages import MessageType
from raftstore.state import StateStore


class BackendError(Exception):
    """A request the backend could not carry out (timeout, shutdown, no leader); the message is for the client."""


class NoLeaderError(BackendError):
    """No leader is known right now (HTTP 500 "No cluster leader", as Consul answers)."""


class NotLeaderError(BackendError):
    """This server is not the leader; `leader_http` is where to forward, when known."""

    def __init__(self, message: str, leader_http: str | None = None) -> None:
        super().__init__(message)
        self.leader_http = leader_http


@dataclass(frozen=True)
class ApplyResult:
    index: int
    """The Raft index the command was committed at."""
    response: Any
    """What the FSM handler returned (None, bool, session id, txn dict, or a returned `StateError`)."""


@dataclass(frozen=True)
class RaftServerInfo:
    """One entry of Consul's RaftConfigurationResponse."""

    id: str
    node: str
    address: str
    leader: bool
    voter: bool


class ServerBackend(Protocol):
    node_name: str
    datacenter: str

    @property
    def state(self) -> StateStore:
        """The current state store (replaced on snapshot restore)."""
        ...

    async def apply(self, msg_type: MessageType, body: Mapping[str, Any]) -> ApplyResult:
        """Encode, replicate, commit and apply one FSM command. Raises NotLeaderError / NoLeaderError /
        BackendError."""
        ...

    async def verify_leader(self) -> None:
        """For ``?consistent`` reads: returns once this server has confirmed it is still the leader and has applied
        everything committed before the call. Raises NotLeaderError / NoLeaderError."""
        ...

    def is_leader(self) -> bool: ...

    def known_leader(self) -> bool: ...

    def leader_address(self) -> str:
        """The leader's Raft address ("" when none), for /v1/status/leader."""
        ...

    def last_contact_ms(self) -> int:
        """Milliseconds since the leader was last heard from (0 on the leader)."""
        ...

    def raft_configuration(self) -> tuple[int, list[RaftServerInfo]]:
        """(index of the latest configuration, its servers)."""
        ...

    async def remove_peer(self, *, server_id: str | None = None, address: str | None = None) -> None: ...

    async def snapshot_save(self, out: BinaryIO) -> int:
        """Write a Consul snapshot archive of the current state to `out`; returns its index."""
        ...

    async def snapshot_restore(self, archive: BinaryIO) -> None:
        """Verify the archive, then restore it through Raft on every server."""
        ...

    def stats(self) -> dict[str, dict[str, str]]:
        """agent/self's "Stats" (raft section with Consul's string values)."""
        ...

    async def close(self) -> None: ...
