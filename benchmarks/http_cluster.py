"""HTTP KV put and get against a 3-server cluster of `raftstore agent` processes (server mode, WAL with fsync),
with concurrent clients spread over every server (followers forward writes and default reads to the leader, as
Consul clients pointed at any server experience it).

    python benchmarks/http_cluster.py --clients 16 --requests 20000     (prints one JSON line per operation)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from raftstore.testing.raftproc.cluster import free_port
from raftstore.testing.raftproc.load import percentile

VALUE = b"v" * 64


def start_agents(root: Path, size: int = 3) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    raft = [f"127.0.0.1:{free_port()}" for _ in range(size)]
    http = [f"127.0.0.1:{free_port()}" for _ in range(size)]
    processes = []
    for n in range(size):
        args = [
            sys.executable,
            "-m",
            "raftstore",
            "agent",
            "--node",
            f"server-{n}",
            "--data-dir",
            str(root / str(n)),
            "--raft-addr",
            raft[n],
            "--http-addr",
            http[n],
            "--bootstrap-expect",
            str(size),
        ]
        for address in raft:
            if address != raft[n]:
                args += ["--retry-join", address]
        log = open(root / f"{n}.log", "wb")  # noqa: SIM115 - the child's output
        processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            leaders = {
                json.loads(urllib.request.urlopen(f"http://{h}/v1/status/leader", timeout=2).read()) for h in http
            }
            if len(leaders) == 1 and "" not in leaders:
                return processes, http
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no leader; logs in {root}")


async def drive(http: list[str], method: str, n: int, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    ok = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(c: int) -> None:
            nonlocal ok
            address = http[c % len(http)]
            for i in range(c, n, clients):
                url = f"http://{address}/v1/kv/bench/{i:08d}"
                began = time.perf_counter()
                if method == "PUT":
                    async with session.put(url, data=VALUE) as answer:
                        body = await answer.read()
                        good = answer.status == 200 and body == b"true"
                        ok += good
                        if not good and len(failures) < 5:
                            failures.append(f"{answer.status} {body[:200]!r}")
                else:
                    async with session.get(url) as answer:
                        await answer.read()
                        ok += answer.status == 200
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "op": f"http kv {method.lower()}",
        "clients": clients,
        "requests": n,
        "ok": ok,
        "req_per_s": n / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="raftstore-http-cluster-") as tmp:
        processes, http = start_agents(Path(tmp))
        try:
            for method in ("PUT", "GET"):
                print(json.dumps(asyncio.run(drive(http, method, args.requests, args.clients))), flush=True)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(60)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
