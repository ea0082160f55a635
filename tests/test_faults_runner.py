"""The fault run end to end against fake clusters: faults applied and reverted on schedule, a correct cluster
passes, a cluster that loses acknowledged writes or diverges fails, and the command line's exit statuses."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftstore.testing.faults import __main__ as cli
from raftstore.testing.faults.mesh import ProxyMesh, link_name
from raftstore.testing.faults.runner import RunConfig, run
from raftstore.testing.faults.schedule import Fault, FaultKind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults_support import FakeCluster

pytestmark = pytest.mark.pure_python


@pytest.fixture
def listeners() -> Iterator[list[tuple[str, int]]]:
    """Three idle listening sockets standing in for the servers' Raft ports."""
    socks = []
    for _ in range(3):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        socks.append(sock)
    yield [s.getsockname() for s in socks]
    for sock in socks:
        sock.close()


def test_mesh_links_and_dial_maps(listeners: list[tuple[str, int]]) -> None:
    mesh = ProxyMesh(listeners)
    try:
        assert sorted(mesh.proxy.links()) == sorted(link_name(i, j) for i in range(3) for j in range(3) if i != j)
        dial = mesh.dial_map(0)
        assert set(dial) == {f"{h}:{p}" for h, p in listeners[1:]}
        host, port = mesh.proxy.address(link_name(0, 1))
        assert dial[f"{listeners[1][0]}:{listeners[1][1]}"] == f"{host}:{port}"
        mesh.isolate([0])
        blocked = {name: mesh.proxy._links[name].blocked for name in mesh.proxy.links()}
        assert blocked["0->1"] == blocked["1->0"] == {"forward": True, "backward": True}
        assert blocked["1->2"] == blocked["2->1"] == {"forward": False, "backward": False}
        mesh.heal()
        mesh.silence([2])
        blocked = {name: mesh.proxy._links[name].blocked for name in mesh.proxy.links()}
        assert blocked["2->0"] == {"forward": True, "backward": False} and not any(blocked["0->2"].values())
        mesh.heal()
        mesh.delay([1], 0.1)
        assert mesh.proxy._links["0->1"].delay == 0.1 and mesh.proxy._links["0->2"].delay == 0
    finally:
        mesh.close()


def _schedule() -> list[Fault]:
    kinds = [FaultKind.PARTITION, FaultKind.KILL, FaultKind.ONE_WAY, FaultKind.PAUSE, FaultKind.DELAY]
    kinds += [FaultKind.DROP, FaultKind.SLOW_DISK]
    return [Fault(0.1 + 0.3 * i, 0.2, kind, (i % 3,), 0.05) for i, kind in enumerate(kinds)]


def test_a_correct_cluster_passes_under_every_fault(listeners: list[tuple[str, int]]) -> None:
    cluster = FakeCluster(3, ProxyMesh(listeners))
    lines: list[str] = []
    try:
        report = run(cluster, _schedule(), RunConfig(seconds=3.0, seed=1, converge_timeout=20), log=lines.append)
    finally:
        cluster.close()
    assert report.ok, "\n".join(report.lines())
    assert len(report.injected) == 7 and not report.skipped
    assert ("kill", 1) in cluster.calls and ("restart", 1) in cluster.calls
    assert ("pause", 0) in cluster.calls and ("resume", 0) in cluster.calls
    assert cluster.slow == {0: 0.0}  # set during the fault, reset after it
    assert report.operations["write:ok"] > 0 and report.operations["get:total"] > 0
    assert report.final_reads == report.keys == 6 and report.converged
    text = "\n".join(report.lines())
    assert "verdict: PASS" in text and "checker: linearizable" in text


def test_network_faults_are_skipped_without_a_mesh() -> None:
    cluster = FakeCluster(3)
    try:
        report = run(cluster, _schedule()[:2], RunConfig(seconds=1.5, seed=2), log=lambda line: None)
    finally:
        cluster.close()
    assert len(report.injected) == 1 and len(report.skipped) == 1 and "partition" in report.skipped[0]
    assert report.ok


def test_lost_acknowledged_writes_fail_the_run() -> None:
    cluster = FakeCluster(3)
    cluster.store.lose_puts = True
    try:
        report = run(cluster, [], RunConfig(seconds=1.5, seed=3), log=lambda line: None)
    finally:
        cluster.close()
    assert not report.ok and report.result is not None and report.result.verdict == "not linearizable"
    assert "verdict: FAIL" in "\n".join(report.lines())


def test_diverged_servers_fail_the_run() -> None:
    cluster = FakeCluster(3)
    cluster.nodes[2].stale = {f"faults/k{i}": (b"bogus", 1) for i in range(6)}  # server 3 answers from a fake copy
    try:
        report = run(cluster, [], RunConfig(seconds=1.0, seed=4, converge_timeout=1.0), log=lambda line: None)
    finally:
        cluster.close()
    assert not report.converged and not report.ok and "s3" in report.divergence


def test_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    clusters: list[FakeCluster] = []

    def launch(servers: int, workdir: Path, seed: int) -> FakeCluster:
        clusters.append(FakeCluster(servers))
        return clusters[-1]

    argv = ["--servers", "5", "--seconds", "2", "--seed", "7", "--faults", "kill,pause", "--history", str(history)]
    assert cli.main(argv, launch=launch) == 0
    out = capsys.readouterr().out
    assert "seed 7:" in out and "verdict: PASS" in out and history.read_text().count("\n") > 10
    assert clusters[0].servers == 5 and all(node.down is False for node in clusters[0].nodes)

    def broken(servers: int, workdir: Path, seed: int) -> FakeCluster:
        raise RuntimeError("no agent here")

    assert cli.main(["--seconds", "1", "--seed", "1"], launch=broken) == 2
    assert "cannot start the cluster" in capsys.readouterr().err

    def lossy(servers: int, workdir: Path, seed: int) -> FakeCluster:
        cluster = FakeCluster(servers)
        cluster.store.lose_puts = True
        return cluster

    assert cli.main(["--seconds", "1.5", "--seed", "2", "--faults", "pause"], launch=lossy) == 1
