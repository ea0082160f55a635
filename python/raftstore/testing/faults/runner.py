"""One fault run: clients on every server, the schedule's faults applied and reverted on time, a heal, a check that
all servers converge, final reads of every key, and the linearizability checker over the whole history.

Why the final reads are part of the history rather than a separate comparison: "every acknowledged write is
present" is exactly what the checker decides when the last reads of each key come after every other operation
(a lost acknowledged put or delete leaves the final read with no valid place), so one verdict covers lost writes,
stale reads and phantom values alike.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from raftstore.testing.faults.client import HistoryRecorder, Indeterminate, KVClient, Refused, Worker
from raftstore.testing.faults.cluster import ClusterHandle, FaultUnsupported
from raftstore.testing.faults.schedule import Fault, FaultKind
from raftstore.testing.history import Operation
from raftstore.testing.linearizability import CheckResult, check_kv

FINAL_CLIENT = -1  # the client id of the final reads
_NETWORK = frozenset({FaultKind.PARTITION, FaultKind.ONE_WAY, FaultKind.DELAY, FaultKind.DROP})


@dataclass
class RunConfig:
    seconds: float
    seed: int
    clients_per_server: int = 2
    keys: int = 6
    op_timeout: float = 2.0
    converge_timeout: float = 60.0
    check_timeout: float | None = 120.0
    pause_between_ops: float = 0.0


@dataclass
class RunReport:
    """What a run did and found; `ok` is the exit decision."""

    injected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    converged: bool = False
    divergence: str = ""
    final_reads: int = 0  # final reads that answered (each key's must, or nothing proves its writes survived)
    keys: int = 0
    result: CheckResult | None = None
    history: list[Operation] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        complete = self.final_reads == self.keys
        return self.converged and complete and self.result is not None and bool(self.result)

    def lines(self) -> list[str]:
        out = [f"faults injected: {len(self.injected)}"]
        out += [f"  {line}" for line in self.injected]
        out += [f"  skipped (unsupported by this cluster): {line}" for line in self.skipped]
        ops = self.operations
        out.append(
            f"operations: {sum(ops[k] for k in ops if k.endswith(':total'))} "
            f"(acknowledged writes {ops['write:ok']}, reads ok {ops['get:ok']}, unknown {ops['all:unknown']}, "
            f"failed {ops['all:fail']})"
        )
        out.append("servers converged" if self.converged else f"servers DID NOT converge: {self.divergence}")
        if self.final_reads != self.keys:
            out.append(f"final reads answered: {self.final_reads} of {self.keys} keys")
        if self.result is not None:
            out.append(f"checker: {self.result.verdict}: {self.result.explanation}")
        out.append(f"verdict: {'PASS' if self.ok else 'FAIL'} after {self.elapsed:.1f}s")
        return out


def _count(history: list[Operation]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for op in history:
        counts[f"{op.op}:total"] += 1
        counts[f"{op.op}:{op.status}"] += 1
        counts[f"all:{op.status}"] += 1
        if op.op != "get" and op.status == "ok" and not (op.op == "cas" and op.output is False):
            counts["write:ok"] += 1
    return counts


class Nemesis:
    """Applies each fault at its time and reverts it at its end, on its own thread; records what it did."""

    def __init__(self, cluster: ClusterHandle, schedule: list[Fault], report: RunReport) -> None:
        self.cluster = cluster
        self.schedule = schedule
        self.report = report
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nemesis", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for fault in self.schedule:
                if self.stop.wait(max(0.0, fault.at - (time.monotonic() - started))):
                    return
                try:
                    self.apply(fault)
                except FaultUnsupported as why:
                    self.report.skipped.append(f"{fault.describe()}: {why}")
                    continue
                self.report.injected.append(fault.describe())
                self.stop.wait(max(0.0, fault.end - (time.monotonic() - started)))
                self.revert(fault)
        except BaseException as error:  # reported by join(); the run must not go on with a fault stuck
            self.error = error

    def apply(self, fault: Fault) -> None:
        cluster, servers = self.cluster, fault.servers
        if fault.kind in _NETWORK:
            mesh = cluster.mesh
            if mesh is None:
                raise FaultUnsupported("no proxy mesh")
            if fault.kind is FaultKind.PARTITION:
                mesh.isolate(servers)
            elif fault.kind is FaultKind.ONE_WAY:
                mesh.silence(servers)
            elif fault.kind is FaultKind.DELAY:
                mesh.delay(servers, fault.param)
            else:
                mesh.drop(servers, fault.param)
        elif fault.kind is FaultKind.KILL:
            for server in servers:
                cluster.kill(server)
        elif fault.kind is FaultKind.PAUSE:
            for server in servers:
                cluster.pause(server)
        else:
            for server in servers:
                cluster.slow_disk(server, fault.param)

    def revert(self, fault: Fault) -> None:
        cluster = self.cluster
        if fault.kind in _NETWORK:
            assert cluster.mesh is not None  # apply() raised FaultUnsupported otherwise, and nothing is reverted
            cluster.mesh.heal()
        elif fault.kind is FaultKind.KILL:
            for server in fault.servers:
                cluster.restart(server)
        elif fault.kind is FaultKind.PAUSE:
            for server in fault.servers:
                cluster.resume(server)
        else:
            for server in fault.servers:
                cluster.slow_disk(server, 0.0)


def _snapshot(kv: KVClient, keys: list[str]) -> dict[str, str | None] | None:
    """Every key's value as this server reads it now, or None if it cannot answer."""
    try:
        return {key: kv.get(key).value for key in keys}
    except (Refused, Indeterminate):
        return None


def wait_converged(cluster: ClusterHandle, keys: list[str], timeout: float, op_timeout: float) -> tuple[bool, str]:
    """Poll until every server answers the same value for every key (or `timeout`); returns (ok, what differed)."""
    clients = [KVClient(cluster.http_url(i), op_timeout) for i in range(cluster.servers)]
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        views = [_snapshot(kv, keys) for kv in clients]
        if all(view is not None for view in views) and all(view == views[0] for view in views):
            return True, ""
        last = "; ".join(f"s{i + 1}: {view}" for i, view in enumerate(views))
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(0.2)


def run(
    cluster: ClusterHandle,
    schedule: list[Fault],
    config: RunConfig,
    *,
    log: Callable[[str], None] = print,
) -> RunReport:
    """Drive `cluster` for `config.seconds` under `schedule`; the report holds the history and the verdict."""
    started = time.monotonic()
    report = RunReport()
    keys = [f"faults/k{i}" for i in range(config.keys)]
    recorder = HistoryRecorder()
    stop = threading.Event()
    workers = []
    for server in range(cluster.servers):
        for n in range(config.clients_per_server):
            client_id = server * config.clients_per_server + n
            kv = KVClient(cluster.http_url(server), config.op_timeout)
            workers.append(Worker(client_id, kv, keys, config.seed * 1000 + client_id, recorder))
    threads = [
        threading.Thread(target=w.run, args=(stop, config.pause_between_ops), name=f"client-{w.client_id}", daemon=True)
        for w in workers
    ]
    nemesis = Nemesis(cluster, schedule, report)
    log(f"running {len(workers)} clients on {cluster.servers} servers for {config.seconds:g}s, seed {config.seed}")
    for thread in threads:
        thread.start()
    nemesis.start()
    try:
        stop.wait(config.seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join(config.op_timeout * 4 + 10)
        nemesis.join()
        if cluster.mesh is not None:
            cluster.mesh.heal()
    report.converged, report.divergence = wait_converged(cluster, keys, config.converge_timeout, config.op_timeout)
    report.keys = len(keys)
    final = KVClient(cluster.http_url(0), config.op_timeout)
    for key in keys:  # after every worker has stopped: these reads follow every other operation
        if _final_read(recorder, final, key).status == "ok":
            report.final_reads += 1
    report.history = recorder.history()
    report.operations = _count(report.history)
    report.result = check_kv(report.history, timeout=config.check_timeout)
    report.elapsed = time.monotonic() - started
    return report


def _final_read(recorder: HistoryRecorder, kv: KVClient, key: str) -> Operation:
    return recorder.call(FINAL_CLIENT, "get", key, None, lambda: kv.get(key).value)
