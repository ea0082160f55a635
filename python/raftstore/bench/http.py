"""The HTTP layer of `raftstore bench`: Consul's KV API of `raftstore agent` under concurrent clients, against the
HTTP APIs of its peers; requests per second and each request's latency (p50/p90/p99/max).

Backends, each its own processes, started once for the layer:
- ``raftstore dev agent``: `raftstore agent --dev` (one in-memory Raft server, no fsync), as a developer runs it;
- ``raftstore 3 servers`` (the baseline): three `raftstore agent` server processes with a fsync'd WAL each;
- ``consul dev agent``: `consul agent -dev` when a `consul` executable is on PATH (the same API, the same requests);
- ``etcd 3 members``: Debian's etcd-server, three members with their fsync'd WALs, through etcd's v3 HTTP/JSON
  gateway (`POST /v3/kv/put`, `POST /v3/kv/range`; keys and values base64 in JSON).
What is missing is reported as skipped with its install hint.

Clients are asyncio tasks on one aiohttp session in this process (keep-alive connections, one per client), the same
client code for every backend, all aimed at the leader (a Consul client pointed at a follower pays one forwarding
hop more; etcd's gateway forwards too). Every sample runs for a fixed time and is self-timed, so process start-up
never counts; a non-200 answer fails the run rather than counting as a fast one.

Workloads: ``kv put`` with 1 and 32 clients (distinct keys, 64-byte values), ``kv get`` with 32 clients (Consul's
default mode: the leader answers from its state; etcd's serializable range, answered by the member from its state
without a quorum round) and ``kv get consistent`` (Consul's `?consistent`: the leader confirms its leadership with a
quorum first; etcd's default linearizable range). The gets read keys written before the first sample.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from raftstore.bench.harness import BackendSpec, Context, Measured, Unavailable, Workload, call_factory, latency_summary
from raftstore.testing.raftproc.cluster import free_port

VALUE = b"v" * 64
KEYS_READ = 1_000  # keys written before the first get; gets cycle through them
CONSUL_HINT = "install Consul (https://developer.hashicorp.com/consul/install) and put `consul` on PATH"
BASELINE = "raftstore 3 servers"


@dataclass
class Dataset:
    seconds: float
    root: Path
    quick: bool = False
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    next_key: int = KEYS_READ  # puts write fresh keys in every sample, above the keys the gets read


def _start(data: Dataset, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    log = open(data.root / f"{name}.log", "wb")  # noqa: SIM115  # the child's output, kept for a failed start
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
    data.processes.append(process)
    return process


def _wait(what: str, probe: Any, timeout: float, data: Dataset) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in data.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: a process exited with status {process.returncode}; logs in {data.root}")
        try:
            found = probe()
        except (OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s; logs in {data.root}")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as answer:
        return json.loads(answer.read())


# ---------------------------------------------------------------------------------------------------- backends


class ConsulAPI:
    """A server speaking Consul's KV API at `address` (raftstore's agents, Consul itself)."""

    def __init__(self, address: str) -> None:
        self.base = f"http://{address}/v1/kv/bench/"

    async def put(self, session: Any, i: int) -> bool:
        async with session.put(f"{self.base}{i:08d}", data=VALUE) as answer:
            return bool(answer.status == 200 and await answer.read() == b"true")

    async def get(self, session: Any, i: int, consistent: bool) -> bool:
        url = f"{self.base}{i % KEYS_READ:08d}" + ("?consistent" if consistent else "")
        async with session.get(url) as answer:
            body = await answer.read()
            return answer.status == 200 and bool(body)

    def read_back(self, i: int) -> bytes:
        """Untimed check: the value stored under key i, through the API."""
        entries = _get_json(f"{self.base}{i:08d}")
        return base64.b64decode(entries[0]["Value"])


def raftstore_dev(data: Dataset) -> ConsulAPI:
    process = subprocess.Popen(
        [sys.executable, "-m", "raftstore", "agent", "--dev", "--http-addr", "127.0.0.1:0", "--log-level", "warning"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    data.processes.append(process)
    assert process.stdout is not None
    line = process.stdout.readline().decode(errors="replace")  # the agent prints its bound address once started
    if "HTTP API on http://" not in line:
        raise RuntimeError(f"raftstore agent --dev did not start: {line!r}")
    process.stdout.close()
    return ConsulAPI(line.rsplit("//", 1)[1].strip())


def raftstore_servers(data: Dataset) -> ConsulAPI:
    raft = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    http = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    for n in range(3):
        argv = [sys.executable, "-m", "raftstore", "agent", "--node", f"server-{n}", "--data-dir"]
        argv += [str(data.root / f"server-{n}"), "--raft-addr", raft[n], "--http-addr", http[n]]
        argv += ["--bootstrap-expect", "3", "--log-level", "warning"]
        for other in raft:
            if other != raft[n]:
                argv += ["--retry-join", other]
        _start(data, f"server-{n}", argv)

    def leader_http() -> str | None:
        leaders = {_get_json(f"http://{address}/v1/status/leader") for address in http}
        if len(leaders) != 1 or "" in leaders:
            return None
        return http[raft.index(leaders.pop())]

    return ConsulAPI(_wait("a raftstore leader", leader_http, 120, data))


def consul_dev(data: Dataset) -> ConsulAPI:
    binary = shutil.which("consul")
    if binary is None:
        raise Unavailable(f"no `consul` executable on PATH; {CONSUL_HINT}")
    http = free_port()
    ports = [free_port() for _ in range(3)]
    argv = [binary, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1", "-log-level", "warn"]
    argv += [f"-http-port={http}", "-dns-port=-1", "-grpc-port=-1", f"-serf-lan-port={ports[0]}"]
    argv += [f"-serf-wan-port={ports[1]}", f"-server-port={ports[2]}"]
    _start(data, "consul", argv)
    address = f"127.0.0.1:{http}"
    _wait("a Consul leader", lambda: _get_json(f"http://{address}/v1/status/leader"), 60, data)
    return ConsulAPI(address)


class EtcdAPI:
    """etcd's v3 HTTP/JSON gateway: the same operations, keys and values base64 in JSON bodies."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.value = base64.b64encode(VALUE).decode()

    @staticmethod
    def _key(i: int) -> str:
        return base64.b64encode(f"bench/{i:08d}".encode()).decode()

    async def put(self, session: Any, i: int) -> bool:
        body = {"key": self._key(i), "value": self.value}
        async with session.post(f"{self.url}/v3/kv/put", json=body) as answer:
            await answer.read()
            return bool(answer.status == 200)

    async def get(self, session: Any, i: int, consistent: bool) -> bool:
        body: dict[str, Any] = {"key": self._key(i % KEYS_READ)}
        if not consistent:
            body["serializable"] = True
        async with session.post(f"{self.url}/v3/kv/range", json=body) as answer:
            found = await answer.json(content_type=None)
            return bool(answer.status == 200 and found.get("kvs"))

    def read_back(self, i: int) -> bytes:
        request = urllib.request.Request(
            f"{self.url}/v3/kv/range", data=json.dumps({"key": self._key(i)}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return base64.b64decode(json.loads(answer.read())["kvs"][0]["value"])


def etcd_members(data: Dataset) -> EtcdAPI:
    from raftstore.bench.cluster import _peers_module

    peers = _peers_module()
    etcd = importlib.import_module("peers.etcd")  # benchmarks/peers, on sys.path once _peers_module found it

    group = peers._support.ProcessGroup()
    try:
        _, leader, _ = etcd.start_members(group, 3, data.root / "etcd")
    except peers.PeerUnavailable as missing:
        group.close()
        raise Unavailable(str(missing)) from None
    except BaseException:
        group.close()
        raise
    data.processes.extend(process for _, process, _ in group.processes)
    return EtcdAPI(leader)


# ---------------------------------------------------------------------------------------------------- workloads


async def _drive(api: Any, op: str, clients: int, seconds: float, start: int) -> tuple[int, float, list[float]]:
    """`clients` workers each issuing requests back to back until `seconds` have passed."""
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker(c: int) -> None:
            nonlocal failures
            i = start + c
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                if op == "put":
                    ok = await api.put(session, i)
                else:
                    ok = await api.get(session, i, op == "get consistent")
                if not ok:
                    failures += 1
                    return
                latencies.append(time.perf_counter() - began)
                i += clients

        began = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in range(clients)))
        elapsed = time.perf_counter() - began
    if failures:
        raise AssertionError(f"{failures} {op} requests were not answered with 200")
    return len(latencies), elapsed, latencies


def _prepare_reads(ctx: Context) -> None:
    """Untimed: the keys the gets read exist (once per backend)."""
    backend = ctx.backend
    if getattr(backend, "_keys_written", False):
        return

    async def write() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
            for lo in range(0, KEYS_READ, 16):
                results = await asyncio.gather(*(backend.put(session, i) for i in range(lo, lo + 16)))
                if not all(results):
                    raise AssertionError("writing the keys the gets read failed")

    asyncio.run(write())
    backend._keys_written = True


def _workload(op: str, clients: int) -> Workload:
    def run(ctx: Context) -> Measured:
        offset = ctx.scratch["first_key"] = ctx.data.next_key
        ops, seconds, latencies = asyncio.run(_drive(ctx.backend, op, clients, ctx.data.seconds, offset))
        if op == "put":
            ctx.data.next_key = offset + ops + clients
        return Measured(ops, seconds, latency_summary(latencies))

    def check(ctx: Context) -> None:
        if op == "put":
            assert ctx.backend.read_back(ctx.scratch["first_key"]) == VALUE, "a put's value did not read back"

    prepare = _prepare_reads if op != "put" else None
    label = "get ?consistent" if op == "get consistent" else op
    return Workload(f"{label}, {clients} client{'s' if clients > 1 else ''}", run, prepare, check=check, unit="req")


class HTTPLayer:
    name = "http"
    default_baseline = BASELINE
    full_rounds = 3  # samples run for seconds each

    def prepare(self, quick: bool) -> Dataset:
        base = os.environ.get("RAFTSTORE_BENCH_DIR") or None
        root = Path(tempfile.mkdtemp(prefix="raftstore-bench-http-", dir=base))
        return Dataset(0.3 if quick else 2.0, root, quick)

    def parameters(self, data: Dataset) -> dict[str, Any]:
        return {"seconds_per_sample": data.seconds, "value_bytes": len(VALUE), "keys_read": KEYS_READ}

    def workloads(self) -> list[Workload]:
        return [_workload("put", 1), _workload("put", 32), _workload("get", 32), _workload("get consistent", 32)]

    def backends(self) -> list[BackendSpec]:
        return [
            BackendSpec("raftstore dev agent", raftstore_dev),
            BackendSpec(BASELINE, self._full_only(raftstore_servers)),
            BackendSpec("consul dev agent", self._full_only(consul_dev)),
            BackendSpec("etcd 3 members", self._full_only(etcd_members)),
        ]

    @staticmethod
    def _full_only(create: Any) -> Any:
        def make(data: Dataset) -> Any:
            if data.quick:
                raise Unavailable("left out of --quick runs (it starts a peer or a cluster); run without --quick")
            return create(data)

        return make

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A user's HTTP service: a class or factory (called with the data set when it takes an argument) whose
        objects have async ``put(session, i)`` and ``get(session, i, consistent)`` returning whether the request
        succeeded, and ``read_back(i)``."""
        return BackendSpec(name, functools.partial(call_factory, implementation), origin="plugin")

    def close(self, data: Dataset) -> None:
        for process in data.processes:
            if process.poll() is None:
                process.terminate()
        for process in data.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
        shutil.rmtree(data.root, ignore_errors=True)
