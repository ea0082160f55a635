"""HTTP API benchmarks: KV put and get throughput and latency against a dev agent, with concurrent clients.

    PYTHONPATH=python python -m pytest benchmarks/bench_http.py --benchmark-enable --benchmark-only \
        --benchmark-group-by=group --benchmark-columns=min,median,ops,rounds

The agent runs as its own process (`raftstore agent --dev --http-addr 127.0.0.1:0`, on `DirectBackend` until the
Raft backend lands), as users run it, so client and server do not share one interpreter. Clients are asyncio tasks
on one aiohttp session (keep-alive connections, one per client).

Groups (one benchmark round = N requests spread over C concurrent clients; extra_info has ops_per_s, p50_ms and
p99_ms over all rounds):
  http kv put [C clients]   PUT /v1/kv/bench/<i> with a 64-byte value, distinct keys
  http kv get [C clients]   GET /v1/kv/bench/<i> of those keys (default consistency: the leader answers)
  embedded kv put / get     the same operations through the embedding API (`raftstore.agent.Server`, no HTTP):
                            what the HTTP layer costs on top

Environment: RAFTSTORE_HTTP_BENCH_N requests per round (default 20,000; 200 when benchmarks are disabled, as in
the default test run), RAFTSTORE_HTTP_BENCH_CLIENTS (default "1,16"), RAFTSTORE_BENCH_ROUNDS (default 3).
Never assertions on time: the asserts check the answers only.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from raftstore.agent import Server

VALUE = b"v" * 64


@pytest.fixture(scope="module")
def sizes(benchmarks_disabled: bool) -> dict[str, Any]:
    if benchmarks_disabled:
        return {"n": 200, "rounds": 1}
    return {
        "n": int(os.environ.get("RAFTSTORE_HTTP_BENCH_N", 20_000)),
        "rounds": int(os.environ.get("RAFTSTORE_BENCH_ROUNDS", 3)),
    }


CLIENTS = [int(c) for c in os.environ.get("RAFTSTORE_HTTP_BENCH_CLIENTS", "1,16").split(",")]


@pytest.fixture(scope="module")
def agent_address() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "raftstore", "agent", "--dev", "--http-addr", "127.0.0.1:0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "HTTP API on http://" in line, line
        yield line.rsplit("//", 1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


async def _drive(address: str, method: str, n: int, clients: int, latencies: list[float]) -> int:
    """N requests over `clients` concurrent workers; returns how many answered as expected."""
    connector = aiohttp.TCPConnector(limit=clients)
    ok = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(start: int) -> None:
            nonlocal ok
            for i in range(start, n, clients):
                url = f"http://{address}/v1/kv/bench/{i:08d}"
                began = time.perf_counter()
                if method == "PUT":
                    async with session.put(url, data=VALUE) as answer:
                        body = await answer.read()
                        ok += answer.status == 200 and body == b"true"
                else:
                    async with session.get(url) as answer:
                        await answer.read()
                        ok += answer.status == 200
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(worker(c) for c in range(clients)))
    return ok


def _record(benchmark: Any, n: int, latencies: list[float], clients: int) -> None:
    ordered = sorted(latencies)
    median_round = benchmark.stats.stats.median if benchmark.stats else 0
    benchmark.extra_info.update(
        clients=clients,
        requests_per_round=n,
        ops_per_s=round(n / median_round) if median_round else None,
        p50_ms=round(statistics.median(ordered) * 1000, 3),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    )


@pytest.mark.parametrize("clients", CLIENTS, ids=[f"{c}clients" for c in CLIENTS])
def test_http_kv_put(benchmark: Any, agent_address: str, loop: Any, sizes: dict[str, Any], clients: int) -> None:
    benchmark.group = f"http kv put [{clients} clients]"
    latencies: list[float] = []
    n = sizes["n"]
    answered = benchmark.pedantic(
        lambda: loop.run_until_complete(_drive(agent_address, "PUT", n, clients, latencies)),
        rounds=sizes["rounds"],
        iterations=1,
    )
    assert answered == n
    _record(benchmark, n, latencies, clients)


@pytest.mark.parametrize("clients", CLIENTS, ids=[f"{c}clients" for c in CLIENTS])
def test_http_kv_get(benchmark: Any, agent_address: str, loop: Any, sizes: dict[str, Any], clients: int) -> None:
    benchmark.group = f"http kv get [{clients} clients]"
    n = sizes["n"]
    assert loop.run_until_complete(_drive(agent_address, "PUT", n, 16, [])) == n  # the keys exist
    latencies: list[float] = []
    answered = benchmark.pedantic(
        lambda: loop.run_until_complete(_drive(agent_address, "GET", n, clients, latencies)),
        rounds=sizes["rounds"],
        iterations=1,
    )
    assert answered == n
    _record(benchmark, n, latencies, clients)


@pytest.fixture(scope="module")
def embedded() -> Iterator[Server]:
    with Server(node_name="bench") as server:
        yield server


def test_embedded_kv_put(benchmark: Any, embedded: Server, sizes: dict[str, Any]) -> None:
    benchmark.group = "embedded kv put"
    n = sizes["n"]
    latencies: list[float] = []

    def run() -> int:
        ok = 0
        for i in range(n):
            began = time.perf_counter()
            ok += embedded.kv_put(f"bench/{i:08d}", VALUE)
            latencies.append(time.perf_counter() - began)
        return ok

    assert benchmark.pedantic(run, rounds=sizes["rounds"], iterations=1) == n
    _record(benchmark, n, latencies, 1)


def test_embedded_kv_get(benchmark: Any, embedded: Server, sizes: dict[str, Any]) -> None:
    benchmark.group = "embedded kv get"
    n = sizes["n"]
    for i in range(n):
        embedded.kv_put(f"bench/{i:08d}", VALUE)
    latencies: list[float] = []

    def run() -> int:
        ok = 0
        for i in range(n):
            began = time.perf_counter()
            ok += embedded.kv_get(f"bench/{i:08d}") is not None
            latencies.append(time.perf_counter() - began)
        return ok

    assert benchmark.pedantic(run, rounds=sizes["rounds"], iterations=1) == n
    _record(benchmark, n, latencies, 1)
