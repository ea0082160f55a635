"""`RaftBackend`: the agent's state replicated by a `raftstore.raft.Node` (also in ``--dev`` mode, as a
single-server cluster in memory, the way Consul's dev agent runs a one-server Raft).

Errors map onto the backend contract: a follower raises `NotLeaderError` carrying the leader's HTTP address, which
every server learns from the leader's announcements (`Node.leader_meta()["http"]`), so the HTTP layer forwards the
request; no known leader is `NoLeaderError`. `apply` returns once the command is applied on this server, so a read
that follows on the same server sees it.

Snapshot save asks Raft for a snapshot (or reuses the newest when nothing was applied since), then streams that
stored snapshot into a Consul archive; restore verifies the whole archive first, then restores through Raft on the
leader, from which every follower receives it by InstallSnapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from typing import Any, BinaryIO

from raftstore.agent.backend import ApplyResult, BackendError, NoLeaderError, NotLeaderError, RaftServerInfo
from raftstore.fsm import FSM, MessageType, encode
from raftstore.raft import errors as raft_errors
from raftstore.raft.configuration import Suffrage
from raftstore.raft.node import Node
from raftstore.snapshot import read_archive, write_archive
from raftstore.state import StateStore

log = logging.getLogger(__name__)
_SPOOL = 8 << 20


class RaftBackend:
    def __init__(self, node: Node, fsm: FSM, node_name: str, datacenter: str, closers: list[Any] | None = None) -> None:
        self.node = node
        self.fsm = fsm
        self.node_name = node_name
        self.datacenter = datacenter
        self._closers = closers or []
        self._tasks: list[asyncio.Task[Any]] = []
        self.autopilot: Any = None
        """The `AutopilotRunner` (set when started by `start_raft_backend`)."""

    def autopilot_state(self) -> Any:
        """Optional member of the contract: autopilot's latest `State` on the leader, None elsewhere."""
        return self.autopilot.state if self.autopilot is not None else None

    def start_autopilot(
        self, update_interval: float = 2.0, reconcile_interval: float = 10.0, failure_timeout: float | None = None
    ) -> None:
        from raftstore.agent.autopilot_runner import FAILURE_DETECTION_TIMEOUT, AutopilotRunner

        self.autopilot = AutopilotRunner(
            self.node, self.fsm, update_interval, reconcile_interval, failure_timeout or FAILURE_DETECTION_TIMEOUT
        )
        self._tasks.append(asyncio.get_running_loop().create_task(self.autopilot.run()))

    @property
    def state(self) -> StateStore:
        return self.fsm.state

    @property
    def applied_index(self) -> int:
        return self.node.applied_index()

    # ------------------------------------------------------------------------------------------ errors
    def _not_leader(self) -> BackendError:
        leader = self.node.leader()[1]
        if not leader:
            return NoLeaderError("No cluster leader")
        return NotLeaderError(f"not the leader; {leader} is", self.node.leader_meta().get("http"))

    async def _wait(self, future: Any) -> Any:
        try:
            return await future
        except raft_errors.NotLeaderError:
            raise self._not_leader() from None
        except raft_errors.LeadershipLostError as error:
            raise BackendError(f"leadership lost while committing: {error}") from None
        except raft_errors.RaftShutdownError:
            raise BackendError("server is shutting down") from None
        except raft_errors.RaftError as error:
            raise BackendError(str(error)) from None

    async def _hold_for_leader(self, deadline: float) -> BackendError | None:
        """Consul's RPC hold: while there is no leader, or this follower has not yet heard where the leader's HTTP
        API is, wait (up to the deadline) instead of failing the request at once. None: this server leads now, so
        the caller retries here."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            if self.node.is_leader():
                return None
            if self.node.leader()[1] and self.node.leader_meta().get("http"):
                break
            await asyncio.sleep(0.02)
        return self._not_leader()

    # ------------------------------------------------------------------------------------------ contract
    async def apply(self, msg_type: MessageType, body: Mapping[str, Any]) -> ApplyResult:
        data = encode(msg_type, dict(body))
        deadline = asyncio.get_running_loop().time() + RPC_HOLD_TIMEOUT
        while True:
            future = self.node.apply(data)
            try:
                response = await self._wait(future)
            except (NotLeaderError, NoLeaderError):  # refused before it was proposed: safe to send again
                error = await self._hold_for_leader(deadline)
                if error is not None:
                    raise error from None
                continue
            return ApplyResult(future.index, response)

    def apply_sync(self, msg_type: MessageType, body: Mapping[str, Any], timeout: float = 60.0) -> ApplyResult:
        """`apply` for plain threads (the embedding API)."""
        future = self.node.apply(encode(msg_type, dict(body)))
        try:
            response = future.result(timeout)
        except raft_errors.NotLeaderError:
            raise self._not_leader() from None
        except raft_errors.RaftError as error:
            raise BackendError(str(error)) from None
        return ApplyResult(future.index, response)

    async def verify_leader(self) -> None:
        deadline = asyncio.get_running_loop().time() + RPC_HOLD_TIMEOUT
        while True:
            if not self.node.is_leader():
                error = await self._hold_for_leader(deadline)
                if error is not None:
                    raise error
                continue
            try:
                await self._wait(self.node.verify_leader())
                return
            except (NotLeaderError, NoLeaderError):
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                continue

    def is_leader(self) -> bool:
        return self.node.is_leader()

    def known_leader(self) -> bool:
        return bool(self.node.leader()[1])

    def leader_address(self) -> str:
        return self.node.leader()[0]

    def last_contact_ms(self) -> int:
        contact = self.node.last_contact()
        return 0 if contact == float("inf") else int(contact * 1000)

    def raft_configuration(self) -> tuple[int, list[RaftServerInfo]]:
        index, configuration = self.node.latest_configuration()
        leader = self.node.leader()[1]
        servers = [
            RaftServerInfo(s.id, s.id, s.address, leader=s.id == leader, voter=s.suffrage is Suffrage.VOTER)
            for s in configuration.servers
        ]
        return index, servers

    async def remove_peer(self, *, server_id: str | None = None, address: str | None = None) -> None:
        _, configuration = self.node.latest_configuration()
        match = next(
            (
                s
                for s in configuration.servers
                if (server_id and s.id == server_id) or (address and s.address == address)
            ),
            None,
        )
        if match is None:
            wanted = f"id {server_id!r}" if server_id else f"address {address!r}"
            raise BackendError(f"no server with {wanted} in the Raft configuration")
        if len(configuration.servers) == 1:
            raise BackendError("cannot remove the only server of a single-server cluster")
        await self._wait(self.node.remove_server(match.id))

    async def leadership_transfer(self, server_id: str | None = None) -> None:
        await self._wait(self.node.leadership_transfer(server_id))

    def stats(self) -> dict[str, dict[str, str]]:
        return {"raft": self.node.stats()}

    # ------------------------------------------------------------------------------------------ snapshots
    async def snapshot_save(self, out: BinaryIO) -> int:
        store = self.node.storage.snapshots
        try:
            stored = await self.node.snapshot()
        except raft_errors.SnapshotError:
            metas = store.list()  # nothing applied since the newest: that one is current
            if not metas:
                raise BackendError("nothing to snapshot yet") from None
            stored = metas[0]
        except raft_errors.RaftError as error:
            raise BackendError(str(error)) from None
        return await asyncio.to_thread(self._write_archive, stored.id, out)

    def _write_archive(self, snapshot_id: str, out: BinaryIO) -> int:
        meta, reader = self.node.storage.snapshots.open(snapshot_id)
        with reader:
            archive_meta = {
                "Version": 1,
                "ID": meta.id,
                "Index": meta.index,
                "Term": meta.term,
                "Peers": "",
                "Configuration": {"Servers": meta.configuration},
                "ConfigurationIndex": meta.configuration_index,
                "Size": meta.size,
            }
            write_archive(out, archive_meta, reader)
        return meta.index

    async def snapshot_restore(self, archive: BinaryIO) -> None:
        if not self.node.is_leader():
            raise self._not_leader()
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as state:
            await asyncio.to_thread(read_archive, archive, state)  # verifies everything before Raft sees it
            state.seek(0)
            await self._wait(self.node.restore(state))  # type: ignore[arg-type]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.node.shutdown()
        for closer in self._closers:
            closer.close()


RPC_HOLD_TIMEOUT = 7.0
"""Consul's rpc_hold_timeout: how long a request waits for a leader (or for where it is) before failing."""
DIAL_MAP_ENV = "RAFTSTORE_RAFT_DIAL_MAP"
"""Fault tests only: JSON ``{peer Raft address: address to dial}`` routing this server's Raft links via a proxy."""
SNAPSHOT_THRESHOLD_ENV = "RAFTSTORE_SNAPSHOT_THRESHOLD"
"""Fault tests only: snapshot every N entries (checked every second, 100 trailing logs kept), so that kills land
during snapshots and compaction too."""
FAULTY_DISK_ENV = "RAFTSTORE_FAULTY_DISK_CONTROL"
"""Fault tests only: a file path; when set, the log store is wrapped in `raftstore.testing.faults.disk.FaultyStore`
and the file's content (seconds, as text) is the delay added to every durable write, re-read twice a second."""


class _DelayControl:
    """Polls the control file into the wrapper's sync delay (a thread, so a paused loop cannot hide the change)."""

    def __init__(self, store: Any, path: str) -> None:
        import threading

        self.store, self.path = store, path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faulty-disk-control", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                with open(self.path) as control:
                    delay = float(control.read().strip() or 0)
            except (OSError, ValueError):
                continue
            self.store.set_sync_delay(max(0.0, delay))

    def close(self) -> None:
        self._stop.set()


def fault_hooks(wal: Any) -> tuple[Any, list[Any]]:
    """The store the node should use (the WAL, or a FaultyStore around it) and what to close with it."""
    path = os.environ.get(FAULTY_DISK_ENV)
    if not path:
        return wal, []
    from raftstore.testing.faults.disk import FaultyStore

    store = FaultyStore(wal)
    log.warning("fault injection: the log store is wrapped, its delay read from %s", path)
    return store, [_DelayControl(store, path)]


DEV_TIMEOUT = 0.05
"""A dev agent is one server with nothing to wait for: it elects itself within ~0.1 s."""


async def start_raft_backend(config: Any) -> RaftBackend:
    """Build and start the Raft-backed server an `AgentConfig` describes (dev: in memory; server: a WAL and file
    snapshots under ``<data_dir>/raft``, Raft over TCP at `raft_addr`, joining per bootstrap_expect/retry_join)."""
    from pathlib import Path

    from raftstore.agent.join import Joiner
    from raftstore.logstore import MemoryStore, WALStore
    from raftstore.raft import Config, Configuration, Server
    from raftstore.raft.node import memory_transport, tcp_transport
    from raftstore.raft.snapshots import FileSnapshotStore, MemorySnapshotStore
    from raftstore.raft.transport import InMemoryNetwork

    fsm = FSM()
    meta = {"http": config.advertise_http or config.http_addr, "node": config.node_name}
    if config.dev:
        memory = MemoryStore()
        raft_config = Config(
            local_id=config.node_name,
            commit_timeout=0.01,
            tick_interval=0.005,
            heartbeat_timeout=DEV_TIMEOUT,
            election_timeout=DEV_TIMEOUT,
            leader_lease_timeout=DEV_TIMEOUT,
        )
        network_transport = memory_transport(InMemoryNetwork())

        def advertised(local_id: str, on_message: Any) -> Any:
            # A lone dev server never dials anyone; it reports the Raft address it was given, as Consul's does.
            transport = network_transport(local_id, on_message)
            transport.address = config.raft_addr
            return transport

        node = Node(raft_config, fsm, memory, memory, MemorySnapshotStore(), advertised, meta=meta)
        await asyncio.to_thread(node.start)
        await node.bootstrap_cluster(Configuration((Server(config.node_name, node.address),)))
        backend = RaftBackend(node, fsm, config.node_name, config.datacenter)
        for _ in range(400):
            if node.is_leader() and node.applied_index() >= node.commit_index() > 0:
                break
            await asyncio.sleep(0.005)
        backend.start_autopilot()
        return backend
    if not config.data_dir:
        raise ValueError("server mode needs --data-dir")
    base = Path(config.data_dir) / "raft"
    base.mkdir(parents=True, exist_ok=True)
    wal = WALStore(base / "wal")
    logs, closers = fault_hooks(wal)
    fault_threshold = os.environ.get(SNAPSHOT_THRESHOLD_ENV)
    raft_config = Config(
        local_id=config.node_name,
        snapshot_threshold=int(fault_threshold) if fault_threshold else 16384,
        snapshot_interval=1.0 if fault_threshold else 30.0,
        trailing_logs=100 if fault_threshold else 10240,
    )
    dial_map = json.loads(os.environ.get(DIAL_MAP_ENV, "{}"))
    server_ssl = client_ssl = None
    if getattr(config, "tls", False):
        # The agent's certificate on both sides of every Raft link (as Consul's servers do): with
        # tls_verify_incoming, a peer without a certificate from the cluster CA cannot even say hello.
        from raftstore.agent.listener import forward_ssl_context, server_ssl_context

        server_ssl, client_ssl = server_ssl_context(config), forward_ssl_context(config)
    transport = tcp_transport(config.raft_addr, dial_map=dial_map, server_ssl=server_ssl, client_ssl=client_ssl)
    node = Node(raft_config, fsm, logs, logs, FileSnapshotStore(base, retain=2), transport, meta=meta)
    try:
        await asyncio.to_thread(node.start)
    except BaseException:
        wal.close()
        raise
    backend = RaftBackend(node, fsm, config.node_name, config.datacenter, closers=[*closers, wal])
    joiner = Joiner(node, list(config.retry_join), config.bootstrap_expect or 0)
    backend._tasks.append(asyncio.get_running_loop().create_task(joiner.run()))
    backend.start_autopilot(
        getattr(config, "autopilot_update_interval", 2.0),
        getattr(config, "autopilot_reconcile_interval", 10.0),
        getattr(config, "autopilot_failure_timeout", None),
    )
    return backend
