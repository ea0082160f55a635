"""Membership in the runtime: servers added and removed under load, non-voters, observers, shutdown on removal,
and what the node does with bad frames and a failing FSM."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftstore.raft import Configuration, ConfigurationChangeError, Role, Server, Suffrage
from raftstore.raft.errors import CantBootstrapError, RaftShutdownError
from raftstore.raft.node import ConfigurationObservation, LeaderObservation, StateObservation

from .support import DEADLINE, Cluster, command, wait_for


@pytest.fixture(params=["memory", "tcp"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(request.param, tmp_path)
    yield c
    c.close()


def test_add_and_remove_servers_under_load(cluster: Cluster) -> None:
    cluster.bootstrap(["a", "b", "c"])
    stop = threading.Event()
    acknowledged: dict[str, int] = {}
    errors: list[Exception] = []

    def load() -> None:
        i = 0
        while not stop.is_set():
            try:
                cluster.apply(command(f"k{i}", i))
                acknowledged[f"k{i}"] = i
            except AssertionError as error:
                errors.append(error)
                return
            i += 1

    writer = threading.Thread(target=load)
    writer.start()
    try:
        for new in ("d", "e"):
            node = cluster.start(new)
            cluster.leader().add_nonvoter(new, node.address).result(DEADLINE)
            wait_for(lambda n=node: n.applied_index() >= cluster.leader().commit_index() - 5, f"{new} to catch up")
            cluster.leader().add_voter(new, node.address).result(DEADLINE)
        index, configuration = cluster.leader().get_configuration().result(DEADLINE)
        assert configuration.voters == ("a", "b", "c", "d", "e") and index > 0
        # Remove two of the original servers (the leader possibly among them).
        for gone in ("a", "b"):
            leader = cluster.leader()
            leader.remove_server(gone).result(DEADLINE)
            wait_for(lambda g=gone: cluster.nodes[g].state() is not Role.LEADER, f"{gone} to step down")
        wait_for(lambda: cluster.leader().id in ("c", "d", "e"), "a leader among the remaining servers")
    finally:
        stop.set()
        writer.join(DEADLINE)
    assert not errors
    cluster.converged(acknowledged, ids=["c", "d", "e"])
    _, configuration = cluster.leader().get_configuration().result(DEADLINE)
    assert configuration.voters == ("c", "d", "e")


def test_a_removed_leader_steps_down_and_shuts_down(cluster: Cluster) -> None:
    """hashicorp ShutdownOnRemove. (A removed follower may never hear that its removal committed: the leader stops
    replicating to it as soon as the change is appended, in hashicorp/raft as here.)"""
    cluster.bootstrap(["a", "b", "c"])
    leader = cluster.leader()
    cluster.apply(command("k", 1))
    leader.remove_server(leader.id).result(DEADLINE)
    wait_for(lambda: leader._stopping, "the removed leader to shut down")
    new = cluster.leader()
    assert new.id != leader.id
    _, configuration = new.get_configuration().result(DEADLINE)
    assert leader.id not in configuration.ids()


def test_observers_and_nonvoter_promotion_demotion(cluster: Cluster) -> None:
    cluster.start("a")
    seen: list[object] = []
    cluster.nodes["a"].register_observer(seen.append)
    cluster.nodes["a"].bootstrap_cluster(Configuration((Server("a", cluster.nodes["a"].address),))).result(DEADLINE)
    with pytest.raises(CantBootstrapError):
        cluster.nodes["a"].bootstrap_cluster(Configuration((Server("a", "x:1"),))).result(DEADLINE)
    leader = cluster.leader()
    assert leader.id == "a"
    wait_for(lambda: any(isinstance(o, StateObservation) and o.role is Role.LEADER for o in seen), "state change")
    assert any(isinstance(o, LeaderObservation) and o.leader_id == "a" for o in seen)
    b = cluster.start("b")
    leader.add_nonvoter("b", b.address).result(DEADLINE)
    _, configuration = leader.get_configuration().result(DEADLINE)
    server = configuration.get("b")
    assert server is not None and server.suffrage is Suffrage.NONVOTER
    wait_for(lambda: any(isinstance(o, ConfigurationObservation) and o.configuration.get("b") for o in seen), "obs")
    leader.add_voter("b", b.address).result(DEADLINE)
    leader.demote_voter("b").result(DEADLINE)
    _, configuration = leader.get_configuration().result(DEADLINE)
    assert configuration.voters == ("a",)
    # Changes asked for together are queued and applied one after the other.
    futures = [leader.add_nonvoter("x", "x:1"), leader.add_nonvoter("y", "y:1")]
    assert futures[0].result(DEADLINE) is None and futures[1].result(DEADLINE) is None
    assert futures[0].index < futures[1].index
    # A stale prev_index is refused (hashicorp's optimistic concurrency on configuration changes).
    with pytest.raises(ConfigurationChangeError):
        leader.remove_server("x", prev_index=futures[0].index).result(DEADLINE)


def test_shutdown_fails_requests_and_is_idempotent(cluster: Cluster) -> None:
    cluster.bootstrap(["a"])
    node = cluster.leader()
    node.apply(command("k", 1)).result(DEADLINE)
    cluster.stop("a")
    with pytest.raises(RaftShutdownError):
        node.apply(command("k", 2)).result(DEADLINE)
    node.shutdown().result(DEADLINE)
