"""`DirectBackend`: one server that applies commands straight to an in-process `FSM`, no Raft.

Why it exists: the HTTP API, the CLI and the embedding API sit on the `ServerBackend` contract; this backend lets
all of them run and be tested without a consensus runtime (and serves ``raftstore agent --dev`` until the Raft
backend takes over). It behaves as a single-server cluster that is always the leader:

- every command gets the next index of a private counter and is applied at once under a lock, so `apply` returns
  after the command is applied (read-your-writes holds trivially) and indexes only ever grow;
- `snapshot_save` takes the FSM's O(1) snapshot under that lock (so the archive's index is exactly the state it
  holds) and streams it to the archive in a worker thread while writes go on;
- `snapshot_restore` verifies the whole archive into a temporary file before anything is touched, then swaps the
  restored store in; the index counter jumps past both the current index and the archive's, as Raft's user restore
  does, so blocking queries and later writes never see an index go backwards.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO

from raftstore.agent.backend import ApplyResult, BackendError, RaftServerInfo
from raftstore.fsm import FSM, MessageType, encode
from raftstore.logstore.log import Log
from raftstore.snapshot import read_archive, write_archive
from raftstore.state import StateStore

_SPOOL = 8 << 20  # archives and state streams up to this size stay in memory


class DirectBackend:
    """A single always-leader server over an `FSM` (see the module docstring)."""

    def __init__(
        self,
        node_name: str = "raftstore-dev",
        datacenter: str = "dc1",
        raft_address: str = "127.0.0.1:8300",
        node_id: str | None = None,
    ) -> None:
        self.node_name = node_name
        self.datacenter = datacenter
        self.raft_address = raft_address
        self.node_id = node_id or str(uuid.uuid4())
        self.fsm = FSM()
        self._lock = threading.Lock()
        self._index = 0
        self._term = 1
        self._closed = False

    # ------------------------------------------------------------------------------------------ state and writes

    @property
    def state(self) -> StateStore:
        return self.fsm.state

    @property
    def applied_index(self) -> int:
        return self._index

    def apply_sync(self, msg_type: MessageType, body: Mapping[str, Any]) -> ApplyResult:
        """`apply` for callers on any thread (the embedding API); the command is applied before this returns."""
        data = encode(msg_type, dict(body))
        with self._lock:
            if self._closed:
                raise BackendError("server is shutting down")
            index = self._index + 1
            response = self.fsm.apply(Log(index, self._term, data=data))
            self._index = index
        return ApplyResult(index, response)

    async def apply(self, msg_type: MessageType, body: Mapping[str, Any]) -> ApplyResult:
        return self.apply_sync(msg_type, body)

    async def verify_leader(self) -> None:
        if self._closed:
            raise BackendError("server is shutting down")

    # ------------------------------------------------------------------------------------------ cluster view

    def is_leader(self) -> bool:
        return True

    def known_leader(self) -> bool:
        return True

    def leader_address(self) -> str:
        return self.raft_address

    def last_contact_ms(self) -> int:
        return 0

    def raft_configuration(self) -> tuple[int, list[RaftServerInfo]]:
        # No configuration entry was ever written to a log: index 0, as Consul reports in -dev mode.
        return 0, [RaftServerInfo(self.node_id, self.node_name, self.raft_address, leader=True, voter=True)]

    async def remove_peer(self, *, server_id: str | None = None, address: str | None = None) -> None:
        if server_id == self.node_id or address == self.raft_address:
            raise BackendError("cannot remove the only server of a single-server cluster")
        wanted = f"id {server_id!r}" if server_id else f"address {address!r}"
        raise BackendError(f"no server with {wanted} in the Raft configuration")

    async def leadership_transfer(self, server_id: str | None = None) -> None:
        """Optional member of the contract (``/v1/operator/raft/transfer-leader``): with no other voter, Consul
        refuses too."""
        raise BackendError("cannot transfer leadership: there is no other voter in the cluster")

    def stats(self) -> dict[str, dict[str, str]]:
        index = str(self._index)
        return {
            "raft": {
                "state": "Leader",
                "term": str(self._term),
                "applied_index": index,
                "commit_index": index,
                "last_log_index": index,
                "last_log_term": str(self._term),
                "last_snapshot_index": "0",
                "num_peers": "0",
                "protocol_version": "3",
                "last_contact": "0",
                "latest_configuration": f"[{{Suffrage:Voter ID:{self.node_id} Address:{self.raft_address}}}]",
            }
        }

    # ------------------------------------------------------------------------------------------ snapshots

    async def snapshot_save(self, out: BinaryIO) -> int:
        with self._lock:
            snapshot = self.fsm.snapshot()
            index, term = max(self._index, 1), self._term
        return await asyncio.to_thread(self._write_archive, snapshot, index, term, out)

    def _write_archive(self, snapshot: Any, index: int, term: int, out: BinaryIO) -> int:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as state:
            try:
                snapshot.persist(state)
            finally:
                snapshot.release()
            size = state.tell()
            state.seek(0)
            meta = {
                "Version": 1,
                "ID": f"{term}-{index}-{int(time.time() * 1000)}",
                "Index": index,
                "Term": term,
                "Peers": "",
                "Configuration": {
                    "Servers": [{"Suffrage": 0, "ID": self.node_id, "Address": self.raft_address}],
                },
                "ConfigurationIndex": 0,
                "Size": size,
            }
            write_archive(out, meta, state)  # type: ignore[arg-type]
        return index

    async def snapshot_restore(self, archive: BinaryIO) -> None:
        await asyncio.to_thread(self._restore, archive)

    def _restore(self, archive: BinaryIO) -> None:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as state:
            meta = read_archive(archive, state)  # verifies everything before the state is used
            state.seek(0)
            with self._lock:
                if self._closed:
                    raise BackendError("server is shutting down")
                self.fsm.restore(state)  # type: ignore[arg-type]
                archived = meta.get("Index")
                archived = archived if isinstance(archived, int) and not isinstance(archived, bool) else 0
                self._index = max(self._index + 1, archived, self.fsm.state.max_index())

    async def close(self) -> None:
        with self._lock:
            self._closed = True
