"""The Raft core on real stores: a three-server cluster in one process, each server on its own WAL, snapshot store
and directory, through elections, writes, snapshots with compaction, a lagging follower caught up by
InstallSnapshot, and a full restart of every server from disk. Messages go through the wire codec."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from raftstore.logstore import LogType, MemoryStore, WALStore
from raftstore.raft import Config, Configuration, RaftCore, Role, Server
from raftstore.raft.errors import CorruptStateError
from raftstore.raft.messages import InstallSnapshotRequest
from raftstore.raft.ready import HardState, Ready
from raftstore.raft.snapshots import FileSnapshotStore, MemorySnapshotStore
from raftstore.raft.storage import RaftStorage, configuration_from_json, configuration_to_json
from raftstore.raft.wire import decode, encode

IDS = ("a", "b", "c")
CONFIGURATION = Configuration(tuple(Server(i, f"127.0.0.1:{8300 + n}") for n, i in enumerate(IDS)))


@dataclass
class Node:
    id: str
    directory: Path
    core: RaftCore | None = None
    storage: RaftStorage | None = None
    wal: WALStore | None = None
    fsm: dict[str, str] = field(default_factory=dict)
    applied: int = 0
    up: bool = True


class Cluster:
    """Synchronous runner: tick everyone, persist each Ready through RaftStorage, deliver messages through the codec."""

    def __init__(self, root: Path, seed: int = 0) -> None:
        self.seed = seed
        self.nodes = {i: Node(i, root / i) for i in IDS}
        self.inbox: list[tuple[int, bytes, str]] = []
        for node in self.nodes.values():
            self.start(node, bootstrap=True)

    def config(self, node_id: str) -> Config:
        return Config(
            local_id=node_id,
            trailing_logs=20,
            heartbeat_timeout=0.2,
            election_timeout=0.2,
            leader_lease_timeout=0.1,
            commit_timeout=0.05,
            tick_interval=0.01,
        )

    def start(self, node: Node, bootstrap: bool = False) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        node.wal = WALStore(node.directory / "wal", segment_size=64 << 10, sync=False)
        node.storage = RaftStorage(node.wal, node.wal, FileSnapshotStore(node.directory, retain=2))
        boot = node.storage.bootstrap(CONFIGURATION) if bootstrap else node.storage.boot_state()
        node.core = RaftCore(self.config(node.id), boot, seed=self.seed * 10 + IDS.index(node.id))
        node.fsm, node.applied = {}, 0
        opened = node.storage.open_snapshot()
        if opened is not None:
            meta, reader = opened
            with reader:
                node.fsm = msgpack.unpackb(reader.read())
            node.applied = meta.index
        node.up = True

    def stop(self, node: Node) -> None:
        assert node.wal is not None
        node.wal.close()
        node.core = node.storage = node.wal = None
        node.up = False

    def step(self) -> None:
        for node in self.nodes.values():
            if node.core is not None:
                node.core.tick()
        inbox, self.inbox = self.inbox, []
        for kind, body, target in inbox:
            node = self.nodes[target]
            if node.core is not None:
                node.core.step(decode(kind, body))
        for node in self.nodes.values():
            self.process(node)

    def process(self, node: Node) -> None:
        core, storage = node.core, node.storage
        if core is None or storage is None or not core.has_ready():
            return
        ready: Ready = core.ready()
        if ready.snapshot is not None:
            node.fsm, node.applied = msgpack.unpackb(ready.snapshot_data), ready.snapshot.index
        storage.persist(ready)
        for message in ready.messages:
            if isinstance(message, InstallSnapshotRequest):
                opened = storage.open_snapshot()
                assert opened is not None
                with opened[1] as reader:
                    message.data = reader.read()
            kind, body = encode(message)
            self.inbox.append((kind, body, message.target))
        for entry in ready.committed:
            if entry.type == LogType.COMMAND:
                key, value = msgpack.unpackb(entry.data)
                node.fsm[key] = value
            node.applied = entry.index

    def leader(self) -> Node | None:
        leaders = [n for n in self.nodes.values() if n.core is not None and n.core.role is Role.LEADER]
        return leaders[0] if len(leaders) == 1 else None

    def run_until(self, condition: Any, steps: int = 5000) -> None:
        for _ in range(steps):
            if condition():
                return
            self.step()
        raise AssertionError("the cluster did not get there")

    def write(self, count: int, start: int = 0) -> None:
        self.run_until(lambda: self.leader() is not None)
        leader = self.leader()
        assert leader is not None and leader.core is not None
        for i in range(start, start + count):
            leader.core.propose(msgpack.packb([f"k{i % 37}", f"v{i}"]))
        last = leader.core.log.last_index()
        self.run_until(lambda: all(n.applied >= last for n in self.nodes.values() if n.up))

    def snapshot(self, node: Node) -> None:
        assert node.core is not None and node.storage is not None
        meta = node.core.snapshot_taken(node.applied)
        node.storage.save_snapshot(meta, [msgpack.packb(node.fsm)])
        self.process(node)  # the compaction the snapshot allows


@pytest.fixture(params=range(8))
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, seed=request.param)
    yield c
    for node in c.nodes.values():
        if node.wal is not None:
            node.wal.close()


def expected_fsm(writes: int) -> dict[str, str]:
    return {f"k{i % 37}": f"v{i}" for i in range(writes)}


def test_writes_snapshots_catch_up_and_full_restart(cluster: Cluster) -> None:
    cluster.write(150)
    assert all(n.fsm == expected_fsm(150) for n in cluster.nodes.values())

    # Every server snapshots; the WAL drops whole segments below the trailing logs.
    for node in cluster.nodes.values():
        cluster.snapshot(node)
        assert node.wal is not None and node.wal.first_index() > 1
    assert all(len(n.storage.snapshots.list()) == 1 for n in cluster.nodes.values() if n.storage)

    # A follower stops; the others go far past its log and compact it away.
    lagging = next(n for n in cluster.nodes.values() if n is not cluster.leader())
    cluster.stop(lagging)
    cluster.write(200, start=150)
    for node in cluster.nodes.values():
        if node.up:
            cluster.snapshot(node)
    leader = cluster.leader()
    assert leader is not None and leader.wal is not None and leader.wal.first_index() > 160
    # It comes back from its own disk and is caught up by InstallSnapshot (its log is too old for appends).
    cluster.start(lagging)
    cluster.write(10, start=350)
    assert lagging.fsm == expected_fsm(360) and lagging.storage is not None
    assert lagging.storage.snapshots.list()[0].index > 150  # it stored the snapshot it was sent

    # Every server restarts from disk: term, vote, log and snapshot come back; nothing committed is lost.
    terms = {n.id: n.core.term for n in cluster.nodes.values() if n.core}
    for node in cluster.nodes.values():
        cluster.stop(node)
    for node in cluster.nodes.values():
        cluster.start(node)
        assert node.core is not None and node.core.term == terms[node.id]
    cluster.write(20, start=360)
    assert all(n.fsm == expected_fsm(380) for n in cluster.nodes.values())


def test_bootstrap_only_on_empty_stores(tmp_path: Path) -> None:
    storage = RaftStorage(MemoryStore(), MemoryStore(), MemorySnapshotStore())
    boot = storage.bootstrap(CONFIGURATION)
    assert boot.hard_state.term == 1 and storage.boot_state().entries == boot.entries
    with pytest.raises(CorruptStateError, match="already has Raft state"):
        storage.bootstrap(CONFIGURATION)


def test_votes_survive_a_restart_even_for_the_same_candidate_in_a_new_term() -> None:
    logs, stable = MemoryStore(), MemoryStore()
    storage = RaftStorage(logs, stable, MemorySnapshotStore())
    storage.persist(Ready(hard_state=HardState(term=3, vote="b", commit=0)))
    assert RaftStorage(logs, stable, MemorySnapshotStore()).boot_state().hard_state == HardState(3, "b", 0)
    storage.persist(Ready(hard_state=HardState(term=4, vote="b", commit=0)))  # the same server, a new term
    assert RaftStorage(logs, stable, MemorySnapshotStore()).boot_state().hard_state == HardState(4, "b", 0)
    storage.persist(Ready(hard_state=HardState(term=5, vote=None, commit=2)))  # a new term without a vote yet
    assert RaftStorage(logs, stable, MemorySnapshotStore()).boot_state().hard_state == HardState(5, None, 0)


def test_a_received_snapshot_must_be_bytes() -> None:
    from raftstore.raft.messages import SnapshotMeta

    storage = RaftStorage(MemoryStore(), MemoryStore(), MemorySnapshotStore())
    with pytest.raises(TypeError, match="bytes"):
        storage.persist(Ready(snapshot=SnapshotMeta(5, 1, CONFIGURATION, 1), snapshot_data={"not": "bytes"}))


def test_configuration_json_round_trip_and_errors() -> None:
    assert configuration_from_json(configuration_to_json(CONFIGURATION)) == CONFIGURATION
    with pytest.raises(CorruptStateError, match="unreadable configuration"):
        configuration_from_json([{"ID": "a"}])
