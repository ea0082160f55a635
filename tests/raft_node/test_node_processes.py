"""Multi-process clusters: one process and data directory per server, durable WAL with fsync.

- SIGKILL the leader under load: a new leader within two election timeouts, no acknowledged apply lost;
- restart every server (SIGKILL): state recovered from snapshot plus log, nothing acknowledged lost.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftstore.testing.raftproc.cluster import ControlError, ProcessCluster

ELECTION_TIMEOUT = 1.0
OPTIONS = [
    "--heartbeat-timeout",
    "0.5",
    "--election-timeout",
    str(ELECTION_TIMEOUT),
    "--snapshot-threshold",
    "200",
    "--snapshot-interval",
    "0.2",
    "--trailing-logs",
    "50",
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ProcessCluster]:
    c = ProcessCluster(tmp_path, 3, OPTIONS)
    try:
        c.start()
        yield c
    finally:
        c.close()


class Writer:
    """A client writing through whichever server leads, recording what was acknowledged."""

    def __init__(self, cluster: ProcessCluster) -> None:
        self.cluster = cluster
        self.acknowledged: dict[str, str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.attempted = 0

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                leader = self.cluster.leader(deadline=30)
                leader.request(op="apply", key=f"k{i}", value=f"v{i}")
            except ControlError:
                time.sleep(0.01)  # leader gone or changing: retry the same key with the next leader
                continue
            self.acknowledged[f"k{i}"] = f"v{i}"
            i += 1

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(120)


def wait_converged(cluster: ProcessCluster, acknowledged: dict[str, str], deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    missing: dict[str, int] = {}
    while time.monotonic() < end:
        missing = {}
        for server in cluster.servers.values():
            if not server.alive:
                continue
            items = server.request(op="items")["items"]
            lost = [k for k, v in acknowledged.items() if items.get(k) != v]
            if lost:
                missing[server.id] = len(lost)
        if not missing:
            return
        time.sleep(0.1)
    raise AssertionError(f"acknowledged writes missing after {deadline} s: {missing}\n{cluster.logs()}")


def test_sigkill_the_leader_under_load(cluster: ProcessCluster) -> None:
    with Writer(cluster) as writer:
        while len(writer.acknowledged) < 100:
            time.sleep(0.01)
        old = cluster.leader()
        old.kill(signal.SIGKILL)
        killed_at = time.monotonic()
        new = cluster.leader(deadline=30)
        elected_after = time.monotonic() - killed_at
        count = len(writer.acknowledged)
        while len(writer.acknowledged) < count + 100:
            time.sleep(0.01)
    assert new.id != old.id
    assert elected_after < 2 * ELECTION_TIMEOUT, f"new leader after {elected_after:.2f} s"
    wait_converged(cluster, writer.acknowledged)
    # The killed server comes back from its own disk and catches up.
    cluster.restart(old.id)
    wait_converged(cluster, writer.acknowledged)


def test_restart_every_server_recovers_from_snapshot_and_log(cluster: ProcessCluster) -> None:
    with Writer(cluster) as writer:
        while len(writer.acknowledged) < 600:
            time.sleep(0.01)
    status = cluster.status()
    assert all(s["last_snapshot_index"] > 0 for s in status.values()), status  # snapshots were taken
    for server in cluster.servers.values():
        server.kill(signal.SIGKILL)
    for server_id in cluster.servers:
        cluster.restart(server_id)
    cluster.leader()
    wait_converged(cluster, writer.acknowledged)
    with Writer(cluster) as more:
        while len(more.acknowledged) < 20:
            time.sleep(0.01)
