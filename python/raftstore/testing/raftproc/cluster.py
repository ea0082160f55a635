"""Launch and drive process servers (`raftstore.testing.raftproc.server`): one process and data directory each.

Ports: Raft ports come from `raftstore.testing.ports` (outside the kernel's ephemeral range and reserved across
processes, so nothing else takes one between the hand-over and the server's bind, or between a kill and a restart);
control ports are chosen by the servers (port 0) and read back from a file. Every process
started is killed on `close()`, also when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from raftstore.testing.ports import reserve_port


class ControlError(RuntimeError):
    """A control request failed (the server answered ok=false, or could not be reached)."""


def free_port() -> int:
    """A loopback port for a server in another process (see `raftstore.testing.ports` for why not port 0)."""
    return reserve_port()


class ServerProcess:
    def __init__(self, server_id: str, raft_address: str, data: Path, log_path: Path) -> None:
        self.id = server_id
        self.raft_address = raft_address
        self.data = data
        self.log_path = log_path
        self.control_file = data.parent / f"{server_id}.control"
        self.process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()  # one request at a time on the shared control connection

    def start(self, peers: str, options: list[str]) -> None:
        self.control_file.unlink(missing_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed right after
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "raftstore.testing.raftproc.server",
                    "--id",
                    self.id,
                    "--raft",
                    self.raft_address,
                    "--data",
                    str(self.data),
                    "--peers",
                    peers,
                    "--control-file",
                    str(self.control_file),
                    *options,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()

    def wait_ready(self, deadline: float) -> None:
        end = time.monotonic() + deadline
        while not self.control_file.exists():
            if self.process is None or self.process.poll() is not None:
                raise ControlError(f"server {self.id} exited early; see {self.log_path}")
            if time.monotonic() > end:
                raise ControlError(f"server {self.id} did not start in {deadline} s; see {self.log_path}")
            time.sleep(0.02)
        port = int(self.control_file.read_text())
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self._reader = self._sock.makefile("rb")

    def request(self, **request: Any) -> dict[str, Any]:
        with self._lock:
            if self._sock is None:
                raise ControlError(f"server {self.id} is not running")
            try:
                self._sock.sendall(json.dumps(request).encode() + b"\n")
                line = self._reader.readline()
            except (OSError, ValueError) as error:
                raise ControlError(f"server {self.id}: {error}") from None
        if not line:
            raise ControlError(f"server {self.id} closed the control connection")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(f"server {self.id}: {reply.get('error')}")
        return reply

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self._disconnect()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(60)
        self.process = None

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a request blocked on the reply
            with self._lock:
                self._reader.close()
                sock.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class ProcessCluster:
    def __init__(self, root: Path, size: int = 3, options: list[str] | None = None) -> None:
        self.root = root
        self.options = list(options or [])
        self.servers: dict[str, ServerProcess] = {}
        for n in range(size):
            server_id = f"s{n}"
            data = root / server_id
            data.mkdir(parents=True, exist_ok=True)
            self.servers[server_id] = ServerProcess(
                server_id, f"127.0.0.1:{free_port()}", data, root / f"{server_id}.log"
            )
        self.peers = ",".join(f"{s.id}={s.raft_address}" for s in self.servers.values())

    def pids(self) -> list[int]:
        """The running server processes' ids (for CPU accounting: `raftstore.testing.raftproc.cpu`)."""
        return [s.process.pid for s in self.servers.values() if s.process is not None and s.alive]

    def start(self, deadline: float = 60.0) -> None:
        for server in self.servers.values():
            server.start(self.peers, self.options)
        for server in self.servers.values():
            server.wait_ready(deadline)

    def restart(self, server_id: str, deadline: float = 60.0) -> None:
        server = self.servers[server_id]
        server.kill()
        server.start(self.peers, self.options)
        server.wait_ready(deadline)

    def status(self) -> dict[str, dict[str, Any]]:
        out = {}
        for server in self.servers.values():
            if server.alive:
                try:
                    out[server.id] = server.request(op="status")
                except ControlError:
                    continue
        return out

    def leader(self, deadline: float = 60.0) -> ServerProcess:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            leaders = [s for s, st in self.status().items() if st["state"] == "Leader"]
            if len(leaders) == 1:
                return self.servers[leaders[0]]
            time.sleep(0.02)
        raise ControlError(f"no single leader within {deadline} s")

    def close(self) -> None:
        for server in self.servers.values():
            server.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {s.id}\n" + (s.log_path.read_text()[-4000:] if s.log_path.exists() else "")
            for s in self.servers.values()
        )
