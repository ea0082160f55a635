"""Snapshots in the runtime: automatic snapshots with compaction, a far-behind follower caught up by a chunked
InstallSnapshot while writes continue (also when the snapshot outgrows the trailing-logs window, Consul #9609),
a full restart recovering from snapshot plus log, and a user restore reaching every server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from raftstore.raft.node import streaming

from .support import DEADLINE, Cluster, command, wait_for


@pytest.fixture(params=["memory", "tcp"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(request.param, tmp_path, snapshot_threshold=100, snapshot_interval=0.05, trailing_logs=20)
    yield c
    c.close()


def write(cluster: Cluster, lo: int, hi: int, expected: dict[str, int], value_size: int = 0) -> None:
    pad = "x" * value_size
    leader = cluster.leader()
    futures = [leader.apply(command(f"k{i}", f"{i}{pad}")) for i in range(lo, hi)]
    for future in futures:
        future.result(DEADLINE)
    expected.update({f"k{i}": f"{i}{pad}" for i in range(lo, hi)})


def test_snapshots_compact_and_a_lagging_follower_catches_up(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("raftstore.raft.node.node.CHUNK_SIZE", 4096)  # many chunks per transfer
    cluster.bootstrap(["a", "b", "c"])
    expected: dict[str, int] = {}
    write(cluster, 0, 300, expected)
    cluster.converged(expected)
    leader = cluster.leader()
    wait_for(lambda: all(n.stats()["last_snapshot_index"] != "0" for n in cluster.nodes.values()), "snapshots")
    lagging = next(i for i in cluster.nodes if i != leader.id)
    cluster.stop(lagging)
    # Far past the lagging server's log, with values large enough for a many-chunk snapshot.
    write(cluster, 300, 900, expected, value_size=64)
    wait_for(lambda: int(cluster.leader().stats()["last_snapshot_index"]) > 800, "a newer snapshot")
    # Compacted past the lagging server: the leader's log no longer holds what it would need (the WAL drops whole
    # segments, so its first index trails the core's; the compaction follows the snapshot's Ready).
    wait_for(lambda: cluster.leader()._core.log.first_index() > 301, "compaction past the lagging server")
    cluster.start(lagging)
    write(cluster, 900, 1000, expected)  # writes go on while it catches up
    cluster.converged(expected)
    assert cluster.fsms[lagging].restores >= 1


def test_full_restart_recovers_from_snapshot_and_log(cluster: Cluster) -> None:
    cluster.bootstrap(["a", "b", "c"])
    expected: dict[str, int] = {}
    write(cluster, 0, 250, expected)
    cluster.converged(expected)
    for server_id in list(cluster.nodes):
        cluster.stop(server_id)
    for server_id in ["a", "b", "c"]:
        cluster.start(server_id)
    write(cluster, 250, 260, expected)
    cluster.converged(expected)


def test_user_restore_reaches_every_server(cluster: Cluster) -> None:
    cluster.bootstrap(["a", "b", "c"])
    expected: dict[str, int] = {}
    write(cluster, 0, 50, expected)
    restored = {"restored": 1, "other": 2}
    leader = cluster.leader()
    future = leader.restore(io.BytesIO(msgpack.packb(restored)))
    future.result(DEADLINE)
    cluster.converged(restored)
    after = dict(restored)
    write(cluster, 1000, 1010, after)
    cluster.converged(after)


def test_chunk_frames_are_strict() -> None:
    with pytest.raises(streaming.WireError):
        streaming.decode_chunk(b"\x93\x01\x02\x03")
    with pytest.raises(streaming.WireError):
        streaming.decode_ack(msgpack.packb([1, 1, 1, 1, "yes"]))


def test_recover_cluster_from_a_peers_file(tmp_path: Path) -> None:
    """Two of three servers are lost for good: the survivor is recovered alone from a peers file and serves."""
    import json

    from raftstore.raft.node.recovery import PeersFileError, read_peers_file, recover_cluster

    from .support import KVFSM

    c = Cluster("memory", tmp_path)
    try:
        c.bootstrap(["a", "b", "c"])
        expected: dict[str, int] = {}
        write(c, 0, 30, expected)
        c.converged(expected)
        for server_id in list(c.nodes):
            c.stop(server_id)
        peers = tmp_path / "peers.json"
        peers.write_text(json.dumps([{"id": "a", "address": "a", "non_voter": False}]))
        logs, stable, snaps = c.stores["a"]
        index = recover_cluster(KVFSM(), logs, stable, snaps, read_peers_file(peers))
        assert index >= 30
        c.start("a")
        write(c, 30, 40, expected)
        c.converged(expected, ids=["a"])
    finally:
        c.close()
    peers.write_text("[{}]")
    with pytest.raises(PeersFileError, match=r"peers\.json"):
        read_peers_file(peers)
