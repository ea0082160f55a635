"""Raft benchmarks: the core's CPU cost per committed entry (three in-process cores, no disk), and the cluster:
three server processes on 127.0.0.1 with a durable WAL, 16-byte keys and 128-byte values applied through the
leader's Python API at 1, 64 and 256 in flight, next to the peers of `benchmarks/peers` when they are installed.

The cluster cells run each configuration for RAFTSTORE_BENCH_RAFT_SECONDS (default 10; 0.5 when benchmarks are
disabled) and record commits/s, p50 and p99 in `extra_info`; pytest-benchmark's own timing of such a cell is the
whole run and means little. `python benchmarks/cluster.py` runs one configuration by itself.

What it measures is the core alone (the part issue 6 batches per Ready): propose a batch on the leader, pass the
Ready messages around until the batch is committed on the leader. Batch 1 is one entry per round trip; batch 64 is
hashicorp's MaxAppendEntries group commit.

Run:   PYTHONPATH=python python -m pytest benchmarks/bench_raft.py --benchmark-enable --benchmark-only
Smoke: python -m pytest benchmarks/bench_raft.py   (benchmarks disabled: each body once, on RAFTSTORE_BENCH_RAFT_N)
Environment: RAFTSTORE_BENCH_RAFT_N  entries per benchmark round (default 4,096; 256 when benchmarks are disabled)
"""

from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from raftstore.raft import Config, Configuration, RaftCore, Role, Server, bootstrap_state
from raftstore.raft.messages import Message

pytestmark = pytest.mark.pure_python
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cluster.py and peers/ sit next to this file


def _entries(benchmarks_disabled: bool) -> int:
    disabled = benchmarks_disabled
    return int(os.environ.get("RAFTSTORE_BENCH_RAFT_N", "256" if disabled else "4096"))


def _cluster() -> dict[str, RaftCore]:
    ids = ("a", "b", "c")
    boot = bootstrap_state(Configuration(tuple(Server(i) for i in ids)))
    cores = {
        i: RaftCore(Config(local_id=i, max_append_entries=64, max_inflight_appends=2), boot, seed=n)
        for n, i in enumerate(ids)
    }
    while not any(core.role is Role.LEADER for core in cores.values()):
        for core in cores.values():
            core.tick()
        _pump(cores)
    return cores


def _pump(cores: dict[str, RaftCore]) -> None:
    queue: deque[Message] = deque()
    while True:
        for core in cores.values():
            if core.has_ready():
                queue.extend(core.ready().messages)
        if not queue:
            return
        while queue:
            message = queue.popleft()
            cores[message.target].step(message)


@pytest.mark.parametrize("batch", [1, 64])
def test_commit_throughput(benchmark: pytest.FixtureRequest, benchmarks_disabled: bool, batch: int) -> None:
    total = _entries(benchmarks_disabled)
    payload = b"x" * 64

    def run() -> None:
        cores = _cluster()
        leader = next(core for core in cores.values() if core.role is Role.LEADER)
        for _ in range(total // batch):
            for _ in range(batch):
                leader.propose(payload)
            _pump(cores)
        assert leader.commit == leader.log.last_index()

    benchmark.extra_info["entries"] = total  # type: ignore[attr-defined]
    benchmark(run)  # type: ignore[operator]


def _cluster_seconds(benchmarks_disabled: bool) -> float:
    return float(os.environ.get("RAFTSTORE_BENCH_RAFT_SECONDS", "0.5" if benchmarks_disabled else "10"))


PEERS = ("hashicorp-raft", "etcd", "pysyncobj")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Peers join the cluster table only in real benchmark runs: the smoke run in the test suite exercises
    raftstore's path and would spend minutes building and starting peers."""
    if metafunc.function.__name__ == "test_cluster_commits":
        enabled = bool(metafunc.config.getoption("benchmark_enable", False))
        metafunc.parametrize("peer", ["raftstore", *(PEERS if enabled else ())])


@pytest.mark.parametrize("in_flight", [1, 64, 256])
def test_cluster_commits(benchmark: Any, benchmarks_disabled: bool, tmp_path: Path, peer: str, in_flight: int) -> None:
    """One cell of the cluster table; a peer that is not installed is skipped with its install hint."""
    import cluster  # benchmarks/cluster.py

    seconds = _cluster_seconds(benchmarks_disabled)
    if peer == "raftstore":

        def run() -> dict[str, Any]:
            return cluster.run_raftstore(3, in_flight, seconds, 16, 128, True, tmp_path / "cluster")

    else:
        try:
            import peers
        except ImportError:
            pytest.skip("benchmarks/peers is not present")

        def run() -> dict[str, Any]:
            try:
                result: dict[str, Any] = peers.run(
                    peer, servers=3, in_flight=in_flight, seconds=seconds, workdir=tmp_path / "peer"
                )
            except peers.PeerUnavailable as missing:
                pytest.skip(str(missing))
            return result

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    assert result["ops"] > 0 and result.get("errors", 0) == 0
    for key in ("commits_per_s", "p50_us", "p99_us", "ops"):
        benchmark.extra_info[key] = result[key]
