"""The CI fault run: three real `raftstore agent` processes (WAL with fsync, Raft through the fault proxy), clients
on every server under a seeded schedule of partitions, one-way partitions, delays, drops, SIGKILL/restart,
SIGSTOP/SIGCONT and a slow disk; every acknowledged write present at the end, all servers converged, and the
history linearizable. `python -m raftstore.testing.faults --seconds 600` is the long soak."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftstore.testing.faults.__main__ import main

pytestmark = pytest.mark.pure_python


@pytest.mark.parametrize("seed", [7])
def test_fault_run_on_agent_processes(tmp_path: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--servers", "3", "--seconds", "25", "--seed", str(seed), "--workdir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "verdict: PASS" in out and "servers converged" in out
