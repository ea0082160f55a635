"""The cluster a fault run drives: what the runner needs of it (`ClusterHandle`), and `launch_cluster`, the one
place that starts real server processes.

Everything else in this package (schedule, proxy mesh, clients, history, checker, report) works against the
`ClusterHandle` protocol and is tested against an in-process fake; only `launch_cluster` depends on the agent's
server mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from raftstore.testing.faults.mesh import ProxyMesh


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


def launch_cluster(servers: int, workdir: Path, seed: int) -> ClusterHandle:
    """Start `servers` real `raftstore agent` processes in server mode, Raft links through a `ProxyMesh`.

    To complete once the agent exists (the lead's part): pick free loopback ports for each server's HTTP API and
    Raft listener; build the mesh over the Raft addresses (`ProxyMesh`); start each server with its data directory
    under `workdir`, the other servers as its join/bootstrap peers, and `mesh.dial_map(i)` as its Raft dial map;
    wait until every HTTP API answers and a leader is elected; return a handle whose kill/restart/pause/resume
    signal the processes and whose slow_disk reaches the server's `FaultyStore` (e.g. through a control file).
    """
    raise FaultUnsupported(
        "launching server processes needs `raftstore agent` in server mode, which this build does not have yet"
    )
