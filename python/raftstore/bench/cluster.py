"""The Raft cluster layer of `raftstore bench`: three server processes on 127.0.0.1 with durable logs, 16-byte keys
and 128-byte values applied through the leader's API with 1, 64 and 256 commands in flight; commits per second.

raftstore runs `raftstore.testing.raftproc` servers (a WAL with fsync each) and keeps one cluster for the whole
layer. The peers (hashicorp/raft with BoltDB, etcd, PySyncObj) come from a source checkout's `benchmarks/peers`
(found next to the current directory, or at ``$RAFTSTORE_PEERS_DIR``); each cell starts the peer's cluster afresh,
since their launchers run one configuration at a time. What is missing is reported as skipped with its hint.
Every sample also carries the latency percentiles of its commands (p50/p90/p99/max, as each backend measured them:
raftstore's servers time each apply from submission to its future's result, the peers' harnesses likewise), which
the table, the JSON and the `--plot` latency chart show.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftstore.bench.harness import PERCENTILES, BackendSpec, Context, Measured, Unavailable, Workload, call_factory
from raftstore.testing.raftproc.cluster import ControlError, ProcessCluster

IN_FLIGHT = (1, 64, 256)
LEADER_CHANGE_RETRIES = 3
PEERS = ("hashicorp-raft", "etcd", "pysyncobj")
PEERS_HINT = "peers live in a source checkout's benchmarks/peers (or set RAFTSTORE_PEERS_DIR to that directory)"


@dataclass
class Dataset:
    seconds: float
    root: Path
    quick: bool = False
    clusters: list[ProcessCluster] = field(default_factory=list)


class RaftstoreCluster:
    def __init__(self, data: Dataset) -> None:
        self.cluster = ProcessCluster(data.root / "raftstore", 3)
        data.clusters.append(self.cluster)
        self.cluster.start()
        self.leader = self.cluster.leader()

    def load(self, in_flight: int, seconds: float) -> Measured:
        """One sample on the current leader. On an overloaded machine an election can start mid-sample (the leader
        then fails its in-flight applies with "not the leader"): such a sample times an election, not the steady
        state, so it is repeated on the new leader, up to LEADER_CHANGE_RETRIES times, instead of ending the run."""
        for attempt in range(LEADER_CHANGE_RETRIES + 1):
            try:
                result = self.leader.request(op="load", in_flight=in_flight, seconds=seconds)
            except ControlError:  # leadership moved before the sample began
                if attempt == LEADER_CHANGE_RETRIES:
                    raise
                self.leader = self.cluster.leader()
                continue
            if not result.get("errors"):
                return Measured(int(result["ops"]), float(result["seconds"]), _latency(result))
            if "not the leader" not in str(result.get("first_error")) or attempt == LEADER_CHANGE_RETRIES:
                break
            # Said out loud: a repeated sample is a fact about this machine's load a reader of the figures needs.
            print("raftstore: leadership moved during a sample (an election); repeating it", file=sys.stderr)
            self.leader = self.cluster.leader()
        raise AssertionError(f"raftstore: {result['errors']} applies failed: {result.get('first_error')}")


def _latency(result: dict[str, Any]) -> dict[str, float]:
    """The `<name>_us` figures of a load result, for the names in PERCENTILES that it has."""
    return {name: float(result[f"{name}_us"]) for name in PERCENTILES if result.get(f"{name}_us") is not None}


def _peers_module() -> Any:
    directory = os.environ.get("RAFTSTORE_PEERS_DIR") or str(Path.cwd() / "benchmarks")
    if not (Path(directory) / "peers" / "__init__.py").exists():
        directory = str(Path(directory).parent) if Path(directory).name == "peers" else directory
    if not (Path(directory) / "peers" / "__init__.py").exists():
        raise Unavailable(PEERS_HINT)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return importlib.import_module("peers")


class PeerCluster:
    def __init__(self, name: str, data: Dataset) -> None:
        self.name = name
        self.data = data
        self.peers = _peers_module()

    def load(self, in_flight: int, seconds: float) -> Measured:
        workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=self.data.root))
        try:
            result = self.peers.run(self.name, servers=3, in_flight=in_flight, seconds=seconds, workdir=workdir)
        except self.peers.PeerUnavailable as missing:
            raise Unavailable(str(missing)) from None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        elapsed = float(result.get("elapsed_s") or result.get("seconds") or seconds)
        return Measured(int(result["ops"]), elapsed, _latency(result))


def _workload(in_flight: int) -> Workload:
    def run(ctx: Context) -> Measured | tuple[int, float]:
        """Self-timed: the servers measure their own run, so cluster start-up never counts. A plugin's driver may
        return `(commits, seconds)` or a `Measured` with its latencies."""
        outcome = ctx.backend.load(in_flight, ctx.data.seconds)
        if isinstance(outcome, Measured):
            return outcome
        ops, seconds = outcome
        return int(ops), float(seconds)

    return Workload(f"apply, {in_flight} in flight", run, unit="commits")


class ClusterLayer:
    name = "cluster"
    default_baseline = "raftstore"
    full_rounds = 3  # each sample runs for seconds and a peer's starts its cluster: 5 rounds would take 10 minutes

    def prepare(self, quick: bool) -> Dataset:
        base = os.environ.get("RAFTSTORE_BENCH_DIR") or None
        root = Path(tempfile.mkdtemp(prefix="raftstore-bench-cluster-", dir=base))
        return Dataset(0.5 if quick else 5.0, root, quick)

    def parameters(self, data: Dataset) -> dict[str, Any]:
        return {"servers": 3, "seconds_per_sample": data.seconds, "key_bytes": 16, "value_bytes": 128, "durable": True}

    def workloads(self) -> list[Workload]:
        return [_workload(n) for n in IN_FLIGHT]

    def backends(self) -> list[BackendSpec]:
        specs = [BackendSpec("raftstore", RaftstoreCluster)]
        for name in PEERS:
            specs.append(BackendSpec(name, functools.partial(self._peer, name)))
        return specs

    def _peer(self, name: str, data: Dataset) -> PeerCluster:
        if data.quick:
            raise Unavailable("left out of --quick runs (each sample starts its cluster); run without --quick")
        peer = PeerCluster(name, data)
        if name == "pysyncobj":
            try:
                importlib.import_module("pysyncobj")
            except ImportError:
                raise Unavailable("pip install 'raftstore[peers]' (PySyncObj)") from None
        return peer

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A user's cluster driver: a class or factory (called with the data set when it takes an argument) whose
        objects have ``load(in_flight, seconds)`` returning ``(commits, seconds)`` or a `Measured`."""
        return BackendSpec(name, functools.partial(call_factory, implementation), origin="plugin")

    def close(self, data: Dataset) -> None:
        for cluster in data.clusters:
            with contextlib.suppress(Exception):
                cluster.close()
        shutil.rmtree(data.root, ignore_errors=True)
