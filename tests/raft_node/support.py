"""Shared material for the Raft runtime tests: a small KV FSM and clusters of `Node`s in one process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from raftstore.logstore import LogType, MemoryStore, WALStore
from raftstore.logstore.log import Log
from raftstore.raft import Config, Configuration, Role, Server
from raftstore.raft.node import Node, memory_transport, tcp_transport
from raftstore.raft.snapshots import FileSnapshotStore, MemorySnapshotStore
from raftstore.raft.transport import InMemoryNetwork

DEADLINE = 60.0
"""Generous: the suite must hold on a loaded 2-core machine."""


class KVFSM:
    """A dict FSM: commands are msgpack [key, value]; the response is the entry's index."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.applied: list[int] = []
        self.lock = threading.Lock()
        self.restores = 0

    def apply(self, log: Log) -> Any:
        return self.apply_batch([log])[0]

    def apply_batch(self, logs: Sequence[Log]) -> list[Any]:
        out: list[Any] = []
        with self.lock:
            for log in logs:
                if log.type == LogType.COMMAND:
                    key, value = msgpack.unpackb(log.data)
                    self.data[key] = value
                    out.append(log.index)
                else:
                    out.append(None)
        return out

    def snapshot(self) -> _Snap:
        with self.lock:
            return _Snap(dict(self.data))

    def restore(self, reader: BinaryIO) -> None:
        raw = reader.read()
        with self.lock:
            self.data = msgpack.unpackb(raw) if raw else {}
            self.restores += 1

    def copy(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.data)


class _Snap:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def persist(self, sink: Any) -> None:
        sink.write(msgpack.packb(self.data))

    def release(self) -> None:
        self.data = {}


def command(key: str, value: Any) -> bytes:
    return msgpack.packb([key, value])


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def test_config(server_id: str, **changes: Any) -> Config:
    base = {
        "local_id": server_id,
        "heartbeat_timeout": 0.5,
        "election_timeout": 0.5,
        "leader_lease_timeout": 0.25,
        "commit_timeout": 0.05,
        "tick_interval": 0.01,
        "trailing_logs": 64,
        "snapshot_threshold": 0,
        "snapshot_interval": 1.0,
        "max_append_entries": 256,
    }
    base.update(changes)
    return Config(**base)


class Cluster:
    """Servers in this process on the in-memory network ("memory") or on TCP loopback ("tcp"), each with its own
    stores (a WAL and file snapshots under `root` when given, memory stores otherwise)."""

    def __init__(self, kind: str, root: Path | None, **config: Any) -> None:
        self.kind = kind
        self.root = root
        self.network = InMemoryNetwork()
        self.config = config
        self.nodes: dict[str, Node] = {}
        self.fsms: dict[str, KVFSM] = {}
        self.stores: dict[str, list[Any]] = {}
        self.addresses: dict[str, str] = {}

    def start(self, server_id: str, **config: Any) -> Node:
        if server_id not in self.stores:
            if self.root is not None:
                (self.root / server_id).mkdir(parents=True, exist_ok=True)
                wal = WALStore(self.root / server_id / "wal", segment_size=1 << 20, sync=False)
                self.stores[server_id] = [wal, wal, FileSnapshotStore(self.root / server_id, retain=2)]
            else:
                memory = MemoryStore()
                self.stores[server_id] = [memory, memory, MemorySnapshotStore()]
        logs, stable, snaps = self.stores[server_id]
        # A restarted server listens where the configuration says it is.
        bind = self.addresses.get(server_id, "127.0.0.1:0")
        factory = memory_transport(self.network) if self.kind == "memory" else tcp_transport(bind)
        fsm = KVFSM()
        node = Node(test_config(server_id, **{**self.config, **config}), fsm, logs, stable, snaps, factory)
        node.start()
        self.addresses[server_id] = node.address
        self.nodes[server_id], self.fsms[server_id] = node, fsm
        return node

    def bootstrap(self, ids: Sequence[str]) -> None:
        for server_id in ids:
            self.start(server_id)
        configuration = Configuration(tuple(Server(i, self.nodes[i].address) for i in ids))
        for server_id in ids:
            self.nodes[server_id].bootstrap_cluster(configuration).result(DEADLINE)

    def stop(self, server_id: str) -> None:
        node = self.nodes.pop(server_id)
        node.shutdown().result(DEADLINE)

    def close_stores(self, server_id: str) -> None:
        stores = self.stores.pop(server_id, None)
        if stores and hasattr(stores[0], "close"):
            stores[0].close()

    def leader(self) -> Node:
        def find() -> Node | None:
            leaders = [n for n in self.nodes.values() if n.state() is Role.LEADER]
            return leaders[0] if len(leaders) == 1 else None

        node: Node = wait_for(find, "a single leader")
        return node

    def apply(self, data: bytes, attempts: int = 50) -> Any:
        """Apply through whoever leads, retrying while leadership moves."""
        last: Exception | None = None
        for _ in range(attempts):
            try:
                return self.leader().apply(data).result(DEADLINE)
            except Exception as error:  # NotLeader / LeadershipLost while an election runs
                last = error
                time.sleep(0.05)
        raise AssertionError(f"apply kept failing: {last}")

    def converged(self, expected: dict[str, Any], ids: Sequence[str] | None = None) -> None:
        names = list(ids) if ids is not None else list(self.nodes)
        wait_for(lambda: all(self.fsms[i].copy() == expected for i in names), f"{names} to converge")

    def close(self) -> None:
        for server_id in list(self.nodes):
            self.stop(server_id)
        for server_id in list(self.stores):
            self.close_stores(server_id)
