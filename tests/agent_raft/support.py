"""Agent processes in server mode for cluster tests: start, read the HTTP address back, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from raftstore.testing.raftproc.cluster import free_port


class AgentProcess:
    def __init__(
        self,
        name: str,
        data: Path,
        raft_addr: str,
        join: list[str],
        expect: int,
        extra_env: dict[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.name, self.data, self.raft_addr, self.join, self.expect = name, data, raft_addr, join, expect
        self.extra_env = extra_env or {}
        self.token = token
        self.http_addr = ""
        self.process: subprocess.Popen[str] | None = None
        self.log = data.parent / f"{name}.log"

    def start(self, deadline: float = 60.0) -> None:
        args = [
            sys.executable,
            "-m",
            "raftstore",
            "agent",
            "--node",
            self.name,
            "--data-dir",
            str(self.data),
            "--raft-addr",
            self.raft_addr,
            "--http-addr",
            self.http_addr or "127.0.0.1:0",
            "--bootstrap-expect",
            str(self.expect),
        ]
        for address in self.join:
            args += ["--retry-join", address]
        if self.token:
            args += ["--token", self.token]
        log = open(self.log, "a")  # noqa: SIM115 - the child's stderr, closed right after
        try:
            self.process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **self.extra_env}
            )
        finally:
            log.close()
        assert self.process.stdout is not None
        end = time.monotonic() + deadline
        line = self.process.stdout.readline()
        if not line.startswith("raftstore agent: HTTP API on http://") or time.monotonic() > end:
            raise AssertionError(f"agent {self.name} did not start: {line!r}\n{self.log.read_text()[-3000:]}")
        self.http_addr = line.rsplit("//", 1)[1].strip()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(60)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


def start_cluster(root: Path, size: int = 3, **options: object) -> list[AgentProcess]:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(size)]
    agents = [
        AgentProcess(
            f"server-{n}",
            root / f"server-{n}",
            addresses[n],
            [a for a in addresses if a != addresses[n]],
            size,
            **options,
        )  # type: ignore[arg-type]
        for n in range(size)
    ]
    try:
        for agent in agents:
            agent.start()
    except BaseException:
        for agent in agents:
            agent.stop()
        raise
    return agents
