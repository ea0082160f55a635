"""etcd (Debian's etcd-server, 3.4): one member per process, each with its own data dir (etcd fsyncs its WAL by
default), driven by a client in this process over the v3 gRPC gateway (``POST /v3/kv/put``, HTTP/JSON) on
keep-alive connections, one thread per command in flight.

Unlike the other peers, every etcd command pays an HTTP round trip, JSON and base64 on both sides, and this
process's GIL across the client threads; the result's ``note`` says so, and the figures should be read with that
in mind (etcd's own Go benchmark tool is not packaged by Debian)."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ._support import (
    PeerUnavailable,
    ProcessGroup,
    free_ports,
    process_group,
    summarise,
    try_http_json,
    wait_for,
)

INSTALL_HINT = "apt-get install etcd-server"


def etcd_binary() -> tuple[str, str]:
    """The etcd executable and its version line, or PeerUnavailable."""
    binary = shutil.which("etcd")
    if binary is None:
        raise PeerUnavailable(f"etcd: no etcd executable on PATH; install with: {INSTALL_HINT}")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else ""
    if out.returncode != 0 or "Version" not in first:
        raise PeerUnavailable(f"etcd: `{binary} --version` failed ({out.stderr.strip()}); install with: {INSTALL_HINT}")
    return binary, first.split(":", 1)[1].strip()


def put_load(
    host: str, port: int, in_flight: int, seconds: float, key_size: int, value_size: int
) -> tuple[list[int], int, float]:
    """Keep ``in_flight`` puts outstanding for ``seconds``: latencies (ns) of the successful ones, errors, elapsed."""
    value = base64.b64encode(b"v" * value_size).decode()
    latencies: list[list[int]] = [[] for _ in range(in_flight)]
    errors = [0] * in_flight
    start = threading.Barrier(in_flight + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        mine = latencies[index]
        try:
            try:
                connection.connect()
            except OSError:
                start.abort()  # the run cannot start with fewer clients than asked for; put_load reports it
                return
            start.wait()
            n = 0
            while time.monotonic() < deadline[0]:
                key = f"{(index * 1_000_003 + n) % 100_000:0{key_size}d}".encode()
                body = json.dumps({"key": base64.b64encode(key).decode(), "value": value})
                n += 1
                begin = time.perf_counter_ns()
                try:
                    connection.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    connection.close()
                    continue
                if response.status == 200:
                    mine.append(time.perf_counter_ns() - begin)
                else:
                    errors[index] += 1
        except threading.BrokenBarrierError:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(in_flight)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    began = time.monotonic()
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        raise RuntimeError(f"etcd: could not open {in_flight} client connections to {host}:{port}") from None
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.monotonic() - began
    return [ns for per in latencies for ns in per], sum(errors), elapsed


def start_members(group: ProcessGroup, servers: int, workdir: Path) -> tuple[list[str], str, str]:
    """Start a cluster of ``servers`` members in ``group`` (each with its own data dir; etcd fsyncs its WAL by
    default) and wait for a leader: the members' client URLs, the leader's, and etcd's version."""
    binary, version = etcd_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * servers)
    names = [f"member{i}" for i in range(servers)]
    peer_urls = [f"http://127.0.0.1:{ports[2 * i]}" for i in range(servers)]
    client_urls = [f"http://127.0.0.1:{ports[2 * i + 1]}" for i in range(servers)]
    initial_cluster = ",".join(f"{n}={u}" for n, u in zip(names, peer_urls, strict=True))
    for i, name in enumerate(names):
        data = workdir / name
        data.mkdir(parents=True, exist_ok=True)
        group.start(
            f"etcd {name}",
            [
                binary,
                "--name",
                name,
                "--data-dir",
                str(data / "data"),
                "--listen-peer-urls",
                peer_urls[i],
                "--initial-advertise-peer-urls",
                peer_urls[i],
                "--listen-client-urls",
                client_urls[i],
                "--advertise-client-urls",
                client_urls[i],
                "--initial-cluster",
                initial_cluster,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                f"raftstore-bench-{ports[0]}",
                "--logger",
                "zap",
                "--log-level",
                "warn",
            ],
            data / "etcd.log",
        )

    def leader_url() -> str | None:
        for url in client_urls:
            status = try_http_json("POST", f"{url}/v3/maintenance/status", {})
            member = status and status.get("header", {}).get("member_id")
            if member and status.get("leader") == member:
                return url
        return None

    return client_urls, wait_for("an etcd leader", leader_url, 60, group), version


def run(
    *, servers: int, in_flight: int, seconds: float, key_size: int, value_size: int, workdir: Path
) -> dict[str, Any]:
    with process_group() as group:
        _, leader, version = start_members(group, servers, workdir)
        host, port = leader.removeprefix("http://").split(":")
        put_load(host, int(port), min(in_flight, 8), min(1.0, seconds / 5), key_size, value_size)  # warm-up
        group.check_alive()
        latencies, errors, elapsed = put_load(host, int(port), in_flight, seconds, key_size, value_size)
        group.check_alive()
    return {
        **summarise(latencies, elapsed),
        "errors": errors,
        "version": f"etcd {version}",
        "note": "driven by a Python client over HTTP/JSON (v3 gateway, one thread and connection per command in "
        "flight), not in-process: the client round trip penalises etcd",
    }
