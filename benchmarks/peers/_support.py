"""What every peer driver needs: free loopback ports, waiting on a condition with a deadline, a group of server
processes that is always ended, and latency percentiles."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from raftstore.testing.ports import reserve_ports

T = TypeVar("T")


class PeerUnavailable(Exception):
    """The peer cannot run here; the message is the reason followed by the exact install hint."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 for peer servers in other processes (outside the kernel's
    ephemeral range and reserved across processes: `raftstore.testing.ports`)."""
    return reserve_ports(count)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, processes: ProcessGroup | None = None) -> T:
    """Poll ``probe`` until it returns something other than None; raise with ``what`` after ``timeout`` seconds.

    A generous deadline instead of a fixed sleep, so that a loaded machine only makes it slower, not wrong; if a
    server process died meanwhile, fail at once with its log rather than waiting out the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if processes is not None:
            processes.check_alive()
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class ProcessGroup:
    """Server processes started in their own session, each logging to a file; ``close`` ends every one of them."""

    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, argv: Sequence[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        self.processes.append((name, process, log))
        return process

    def pids(self) -> list[int]:
        """The ids of the processes still running (for CPU accounting: `raftstore.testing.raftproc.cpu`)."""
        return [process.pid for _, process, _ in self.processes if process.poll() is None]

    def check_alive(self) -> None:
        for name, process, log in self.processes:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{name} exited with status {process.returncode}; log tail:\n{tail}")

    def close(self) -> None:
        """SIGTERM each process group, then SIGKILL whatever is still there after a grace period."""
        for _, process, _ in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


@contextlib.contextmanager
def process_group() -> Iterator[ProcessGroup]:
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.close()


def http_json(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Any:
    """One HTTP request with a JSON body and a JSON answer; raises OSError (URLError included) on failure."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise OSError(f"{method} {url}: HTTP {error.code}: {error.read()[:500]!r}") from error


def try_http_json(method: str, url: str, body: Any = None, timeout: float = 2.0) -> Any:
    """As :func:`http_json`, but None while the server is not answering yet."""
    try:
        return http_json(method, url, body, timeout)
    except (OSError, ValueError):
        return None


def summarise(latencies_ns: list[int], elapsed_s: float) -> dict[str, Any]:
    """commits/s over the measured time, and the p50/p90/p99/max latency (nearest rank) in microseconds."""
    ordered = sorted(latencies_ns)

    def percentile(q: float) -> float:
        return ordered[int(q * (len(ordered) - 1))] / 1000.0 if ordered else 0.0

    return {
        "commits_per_s": len(ordered) / elapsed_s if elapsed_s > 0 else 0.0,
        "p50_us": percentile(0.50),
        "p90_us": percentile(0.90),
        "p99_us": percentile(0.99),
        "max_us": percentile(1.0),
        "ops": len(ordered),
        "elapsed_s": elapsed_s,
    }
