"""The cluster a fault run drives: what the runner needs of it (`ClusterHandle`), and `launch_cluster`, the one
place that starts real server processes.

Everything else in this package (schedule, proxy mesh, clients, history, checker, report) works against the
`ClusterHandle` protocol and is tested against an in-process fake; only `launch_cluster` depends on the agent's
server mode.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Protocol

from raftstore.agent.raftbackend import DIAL_MAP_ENV, FAULTY_DISK_ENV, SNAPSHOT_THRESHOLD_ENV
from raftstore.testing.faults.mesh import ProxyMesh
from raftstore.testing.raftproc.cluster import free_port


class FaultUnsupported(RuntimeError):
    """The cluster cannot inject this kind of fault (the runner skips it and says so in the report)."""


class ClusterHandle(Protocol):
    """A running cluster of `servers` servers, addressed 0-based."""

    @property
    def servers(self) -> int: ...

    def http_url(self, server: int) -> str:
        """The server's HTTP API base URL, e.g. ``http://127.0.0.1:8500``."""
        ...

    @property
    def mesh(self) -> ProxyMesh | None:
        """The proxy its Raft links run through (None: network faults are unsupported)."""
        ...

    def kill(self, server: int) -> None:
        """SIGKILL the server's process (no shutdown of any kind)."""
        ...

    def restart(self, server: int) -> None:
        """Start a killed server again on its data directory and addresses."""
        ...

    def pause(self, server: int) -> None:
        """SIGSTOP."""
        ...

    def resume(self, server: int) -> None:
        """SIGCONT."""
        ...

    def slow_disk(self, server: int, seconds: float) -> None:
        """Add `seconds` to each durable write of the server's log store (0 to stop); FaultUnsupported if the
        server was not started with the injectable store wrapper (raftstore.testing.faults.disk)."""
        ...

    def close(self) -> None:
        """Stop every server process (SIGCONT first if paused) and the proxy; idempotent."""
        ...


class AgentCluster:
    """`ClusterHandle` over real `raftstore agent` processes in server mode (WAL with fsync, Raft over TCP through a
    `ProxyMesh`, each log store wrapped in a `FaultyStore` whose delay a control file sets)."""

    def __init__(self, servers: int, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.raft = [("127.0.0.1", free_port()) for _ in range(servers)]
        self.http = [f"127.0.0.1:{free_port()}" for _ in range(servers)]
        self._mesh: ProxyMesh | None = ProxyMesh(self.raft, seed=seed)
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * servers
        self.paused: set[int] = set()

    @property
    def servers(self) -> int:
        return len(self.raft)

    @property
    def mesh(self) -> ProxyMesh | None:
        return self._mesh

    def http_url(self, server: int) -> str:
        return f"http://{self.http[server]}"

    def _control(self, server: int) -> Path:
        return self.workdir / f"server-{server}.disk"

    def start(self, server: int) -> None:
        assert self._mesh is not None
        addresses = [f"{h}:{p}" for h, p in self.raft]
        args = [
            sys.executable,
            "-m",
            "raftstore",
            "agent",
            "--node",
            f"server-{server}",
            "--data-dir",
            str(self.workdir / f"server-{server}"),
            "--raft-addr",
            addresses[server],
            "--http-addr",
            self.http[server],
            "--bootstrap-expect",
            str(self.servers),
        ]
        for j, address in enumerate(addresses):
            if j != server:
                args += ["--retry-join", address]
        env = {
            **os.environ,
            DIAL_MAP_ENV: json.dumps(self._mesh.dial_map(server)),
            FAULTY_DISK_ENV: str(self._control(server)),
            SNAPSHOT_THRESHOLD_ENV: "500",  # snapshots and compaction all the time: kills land during them too
        }
        self._control(server).write_text("0")
        with open(self.workdir / f"server-{server}.log", "ab") as log:
            self.processes[server] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=env)

    def log_tail(self, server: int, size: int = 3000) -> str:
        path = self.workdir / f"server-{server}.log"
        try:
            return path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, deadline: float = 60.0, fail_on_exit: bool = False) -> None:
        """Until every running server's API answers and they agree on a leader. With `fail_on_exit` (start-up),
        a server process that has exited fails at once, with the end of its log, instead of at the deadline."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            leaders = set()
            for server, process in enumerate(self.processes):
                if fail_on_exit and process is not None and process.poll() is not None:
                    raise RuntimeError(
                        f"server {server} exited with status {process.returncode} while the cluster started;"
                        f" the end of its log:\n{self.log_tail(server)}"
                    )
                if process is None or process.poll() is not None or server in self.paused:
                    continue
                try:
                    with urllib.request.urlopen(self.http_url(server) + "/v1/status/leader", timeout=2) as answer:
                        leaders.add(json.loads(answer.read()))
                except (OSError, ValueError):
                    leaders.add("")
            if len(leaders) == 1 and "" not in leaders:
                return
            time.sleep(0.1)
        tails = "".join(f"\n--- server {i}\n{self.log_tail(i, 1500)}" for i in range(self.servers))
        raise RuntimeError(f"the cluster did not elect a leader within {deadline} s (logs in {self.workdir}){tails}")

    def kill(self, server: int) -> None:
        process = self.processes[server]
        if process is not None and process.poll() is None:
            if server in self.paused:
                process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait(60)
        self.paused.discard(server)
        self.processes[server] = None

    def restart(self, server: int) -> None:
        self.kill(server)
        self.start(server)

    def pause(self, server: int) -> None:
        process = self.processes[server]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGSTOP)
            self.paused.add(server)

    def resume(self, server: int) -> None:
        process = self.processes[server]
        if process is not None and server in self.paused:
            process.send_signal(signal.SIGCONT)
        self.paused.discard(server)

    def slow_disk(self, server: int, seconds: float) -> None:
        self._control(server).write_text(str(max(0.0, seconds)))

    def close(self) -> None:
        for server in range(self.servers):
            process = self.processes[server]
            if process is not None and process.poll() is None:
                if server in self.paused:
                    process.send_signal(signal.SIGCONT)
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(30)
            self.processes[server] = None
        if self._mesh is not None:
            self._mesh.proxy.close()
            self._mesh = None


def launch_cluster(servers: int, workdir: Path, seed: int) -> ClusterHandle:
    """Start `servers` real `raftstore agent` processes in server mode, Raft links through a `ProxyMesh`; returns
    once they agree on a leader. The caller closes the handle (every process is stopped, also on failure here)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = AgentCluster(servers, workdir, seed)
    try:
        for server in range(servers):
            cluster.start(server)
        cluster.wait_ready(fail_on_exit=True)
    except BaseException:
        cluster.close()
        raise
    return cluster
