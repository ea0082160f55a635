"""`raftstore.testing.ports`: ports for servers in other processes, outside the ephemeral range and never handed
out twice, also across processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raftstore.testing import ports

pytestmark = pytest.mark.pure_python


def test_ports_are_distinct_free_and_outside_the_ephemeral_range(tmp_path: Path) -> None:
    low, high = ports.ephemeral_range()
    chosen = ports.reserve_ports(50, tmp_path / "registry")
    assert len(set(chosen)) == 50
    for port in chosen:
        assert ports.LOWEST_PORT <= port < low or high < port <= 65535
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: a server can take it


def test_reserved_ports_are_not_handed_out_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = tmp_path / "registry"
    block = free_block(20)
    monkeypatch.setattr(ports, "candidate_ranges", lambda ephemeral: [block])
    first = ports.reserve_ports(12, registry)
    second = ports.reserve_ports(8, registry)
    assert not set(first) & set(second)
    with pytest.raises(ports.NoFreePort):
        ports.reserve_port(registry)  # all 20 are reserved now


def test_expired_and_malformed_reservations_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = tmp_path / "registry"
    block = free_block(3)
    monkeypatch.setattr(ports, "candidate_ranges", lambda ephemeral: [block])
    past, future = time.time() - 1, time.time() + 1000
    registry.write_text(f"{block[0]} {past}\n{block[1]} {future}\nnonsense\n{block[2]} soon\n")
    got = set(ports.reserve_ports(2, registry))
    assert got == {block[0], block[2]}
    assert {int(line.split()[0]) for line in registry.read_text().splitlines()} == set(block)


def test_the_ephemeral_range_is_read_from_the_kernel_or_defaulted(tmp_path: Path) -> None:
    good = tmp_path / "range"
    good.write_text("20000\t50000\n")
    assert ports.ephemeral_range(good) == (20000, 50000)
    for text in ("", "1 2 3", "9 8", "a b"):
        good.write_text(text)
        assert ports.ephemeral_range(good) == (32768, 60999)
    assert ports.ephemeral_range(tmp_path / "missing") == (32768, 60999)
    assert ports.candidate_ranges((32768, 60999)) == [range(10000, 32768), range(61000, 65536)]
    assert ports.candidate_ranges((1024, 65535)) == []


def test_processes_side_by_side_never_get_the_same_port(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    script = (
        "import sys\nfrom pathlib import Path\nfrom raftstore.testing.ports import reserve_port\n"
        "print(' '.join(str(reserve_port(Path(sys.argv[1]))) for _ in range(150)))\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(registry)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert all(child.returncode == 0 for child in children)
    handed_out = [int(port) for output in outputs for port in output.split()]
    assert len(handed_out) == 600 and len(set(handed_out)) == 600


def free_block(size: int) -> range:
    """`size` consecutive ports that are free now (above the default ephemeral range, where nothing binds)."""
    for start in range(61000, 65536 - size, size):
        block = range(start, start + size)
        try:
            for port in block:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return block
    pytest.fail("no block of free ports above 61000")
