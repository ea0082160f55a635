"""Raft core CPU cost per committed entry: three in-process cores, messages handed over directly, no disk.

What it measures is the core alone (the part issue 6 batches per Ready): propose a batch on the leader, pass the
Ready messages around until the batch is committed on the leader. Batch 1 is one entry per round trip; batch 64 is
hashicorp's MaxAppendEntries group commit.

Run:   PYTHONPATH=python python -m pytest benchmarks/bench_raft.py --benchmark-enable --benchmark-only
Smoke: python -m pytest benchmarks/bench_raft.py   (benchmarks disabled: each body once, on RAFTSTORE_BENCH_RAFT_N)
Environment: RAFTSTORE_BENCH_RAFT_N  entries per benchmark round (default 4,096; 256 when benchmarks are disabled)
"""

from __future__ import annotations

import os
from collections import deque

import pytest

from raftstore.raft import Config, Configuration, RaftCore, Role, Server, bootstrap_state
from raftstore.raft.messages import Message

pytestmark = pytest.mark.pure_python


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
