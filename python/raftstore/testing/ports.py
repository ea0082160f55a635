"""Loopback ports for servers that run in other processes and must be told their port before they start.

A server in this process binds port 0 and reads its port back; that is always preferable. A Raft server in another
process cannot: its address is its identity in the cluster configuration, its peers need it before it starts, and
after a SIGKILL it must come back on the same port. The usual "bind port 0, close, hand the number over" leaves a
window in which the kernel gives the same port to someone else, and it did: a CI run's fault test lost a server to
EADDRINUSE while the sanitizer run next to it opened connections. Two rules close that window:

- Ports are chosen *outside the kernel's ephemeral range* (``/proc/sys/net/ipv4/ip_local_port_range``): neither
  ``bind(0)`` nor an outgoing ``connect`` ever takes them, so between the hand-over and the server's own bind (and
  between a kill and the restart) only an explicit bind can take the port.
- Every port handed out is entered in a registry file shared by all processes of this user (under an exclusive
  ``flock``) and not handed out again for ``RESERVATION_SECONDS``, so two test processes running side by side
  (the CI runs the README tests and the sanitizer tests at once) never pick the same port.

A candidate is also test-bound before it is handed out, so a port some unrelated service holds is skipped.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import time
from pathlib import Path

#: How long a handed-out port stays reserved: longer than any test or benchmark keeps a server on its port.
RESERVATION_SECONDS = 3600.0

#: Never hand out a port below this one (privileged ports, and the well-known services just above them).
LOWEST_PORT = 10000

_DEFAULT_EPHEMERAL = (32768, 60999)
_rng = random.SystemRandom()


class NoFreePort(RuntimeError):
    """No port outside the ephemeral range could be reserved (every candidate was in use or reserved)."""


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """The kernel's ephemeral port range (inclusive); Linux's default when it cannot be read."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return (low, high) if 0 < low <= high <= 65535 else _DEFAULT_EPHEMERAL


def candidate_ranges(ephemeral: tuple[int, int]) -> list[range]:
    """The port ranges outside ``ephemeral`` (and at or above LOWEST_PORT) that ports are chosen from."""
    low, high = ephemeral
    ranges = [range(LOWEST_PORT, low), range(high + 1, 65536)]
    return [r for r in ranges if len(r) > 0]


def registry_path() -> Path:
    """The reservation file shared by this user's processes (overridable with RAFTSTORE_PORT_REGISTRY)."""
    override = os.environ.get("RAFTSTORE_PORT_REGISTRY")
    if override:
        return Path(override)
    return Path(tempfile.gettempdir()) / f"raftstore-ports-{os.getuid()}"


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _read_reservations(text: str, now: float) -> dict[int, float]:
    """``{port: expiry}`` of the reservations still in force; malformed lines are dropped (the file only
    coordinates tests: a damaged one costs nothing but a fresh start)."""
    reserved: dict[int, float] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 2:
            continue
        try:
            port, expiry = int(fields[0]), float(fields[1])
        except ValueError:
            continue
        if expiry > now:
            reserved[port] = expiry
    return reserved


def reserve_ports(count: int, registry: Path | None = None) -> list[int]:
    """``count`` distinct loopback TCP ports, free now, outside the ephemeral range, and reserved against every
    other caller of this function (in any process of this user) for RESERVATION_SECONDS."""
    if count <= 0:
        return []
    ranges = candidate_ranges(ephemeral_range())
    if not ranges:
        raise NoFreePort(f"the ephemeral port range leaves no ports at or above {LOWEST_PORT}")
    path = registry or registry_path()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as registry_file:
        fcntl.flock(registry_file, fcntl.LOCK_EX)  # released when the file is closed
        now = time.time()
        reserved = _read_reservations(registry_file.read(), now)
        candidates = [port for candidate_range in ranges for port in candidate_range]
        chosen: list[int] = []
        for _ in range(max(200, 4 * count)):
            if len(chosen) == count:
                break
            port = _rng.choice(candidates)
            if port not in reserved and port not in chosen and _bindable(port):
                chosen.append(port)
        if len(chosen) < count:
            raise NoFreePort(f"found only {len(chosen)} of {count} free ports outside the ephemeral range")
        expiry = now + RESERVATION_SECONDS
        for port in chosen:
            reserved[port] = expiry
        registry_file.seek(0)
        registry_file.truncate()
        registry_file.write("".join(f"{port} {until:.0f}\n" for port, until in sorted(reserved.items())))
    return chosen


def reserve_port(registry: Path | None = None) -> int:
    """One port, as `reserve_ports` chooses it."""
    return reserve_ports(1, registry)[0]
