"""The Raft runtime end to end in one process: clusters of 3 and 5 over the in-memory network and over TCP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftstore.raft import NotLeaderError, Role

from .support import DEADLINE, Cluster, command, wait_for


@pytest.fixture(params=["memory", "tcp"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(request.param, tmp_path)
    yield c
    c.close()


@pytest.mark.parametrize("size", [3, 5])
def test_writes_reach_every_server(cluster: Cluster, size: int) -> None:
    ids = [f"s{i}" for i in range(size)]
    cluster.bootstrap(ids)
    leader = cluster.leader()
    futures = [leader.apply(command(f"k{i}", i)) for i in range(200)]
    indexes = [f.result(DEADLINE) for f in futures]
    assert indexes == sorted(indexes) and all(f.index == i for f, i in zip(futures, indexes, strict=True))
    cluster.converged({f"k{i}": i for i in range(200)})
    leader.barrier().result(DEADLINE)
    leader.verify_leader().result(DEADLINE)
    follower = next(n for n in cluster.nodes.values() if n is not leader)
    with pytest.raises(NotLeaderError):
        follower.apply(command("x", 1)).result(DEADLINE)
    assert follower.leader()[1] == leader.id
    stats = leader.stats()
    assert stats["state"] == "Leader" and int(stats["applied_index"]) >= indexes[-1]
    assert stats["num_peers"] == str(size - 1)


def test_leader_failover_keeps_acknowledged_writes(cluster: Cluster) -> None:
    cluster.bootstrap(["a", "b", "c"])
    expected = {}
    for i in range(50):
        cluster.apply(command(f"k{i}", i))
        expected[f"k{i}"] = i
    old = cluster.leader()
    cluster.stop(old.id)
    new = cluster.leader()
    assert new.id != old.id
    for i in range(50, 80):
        cluster.apply(command(f"k{i}", i))
        expected[f"k{i}"] = i
    cluster.converged(expected)


def test_leadership_transfer(cluster: Cluster) -> None:
    cluster.bootstrap(["a", "b", "c"])
    leader = cluster.leader()
    cluster.apply(command("k", 1))
    leader.leadership_transfer().result(DEADLINE)
    wait_for(lambda: leader.state() is not Role.LEADER, "the old leader to step down")
    assert cluster.leader().id != leader.id
