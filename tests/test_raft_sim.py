"""The seeded simulator: 2,000 randomized runs with mixed faults, exact replay, and the command line."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from raftstore.testing.sim import Faults, run_seed
from raftstore.testing.sim.__main__ import main

pytestmark = pytest.mark.pure_python

SEEDS_PER_CHUNK = 250
CHUNKS = 4  # x 2 cluster sizes = 2,000 simulations; `python -m raftstore.testing.sim --seeds N` soaks longer


@pytest.mark.slow
@pytest.mark.parametrize("servers", [3, 5])
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_randomized_simulations_hold_every_invariant(servers: int, chunk: int) -> None:
    failures = []
    start = chunk * SEEDS_PER_CHUNK
    for seed in range(start, start + SEEDS_PER_CHUNK):
        result = run_seed(seed, servers)
        if not result.ok:
            failures.append(f"seed {seed}: {result.error}")
    assert not failures, "\n".join(failures)


def test_runs_exercise_the_faults_they_claim() -> None:
    """Guard against a simulator that silently stops injecting faults: across a few seeds, every kind shows up."""
    markers = {
        "crashed",
        "will crash mid-write",
        "restarts",
        "partition",
        "heal",
        "membership change",
        "transfers leadership",
        "snapshot at",
        "InstallSnapshotRequest",
        "-> unknown",
        "-> fail",
    }
    seen: set[str] = set()
    for seed in range(40):
        trace = "\n".join(run_seed(seed, 5, trace=True).trace)
        seen.update(marker for marker in markers if marker in trace)
    assert seen == markers, f"missing: {sorted(markers - seen)}"


def _digest(seed: int, servers: int) -> str:
    result = run_seed(seed, servers, trace=True)
    return hashlib.sha256("\n".join(result.trace).encode()).hexdigest()


def test_a_seed_replays_exactly_even_across_hash_seeds() -> None:
    assert _digest(11, 5) == _digest(11, 5)
    code = (
        "from raftstore.testing.sim import run_seed; import hashlib;"
        "print(hashlib.sha256(chr(10).join(run_seed(11, 5, trace=True).trace).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {_digest(11, 5)}


def test_fault_free_run_has_no_unknown_outcomes() -> None:
    result = run_seed(3, 3, faults=Faults())
    assert result.ok and result.history and all(op.status == "ok" for op in result.history)


def test_command_line_reports_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "3", "--servers", "5", "--seed", "100", "--ops", "10"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3 passed, 0 failed"
    assert main(["--seed", "4", "--trace", "--ops", "5"]) == 0
    out = capsys.readouterr().out
    assert "leads term" in out and out.strip().endswith("1 passed, 0 failed")
    assert main(["--seeds", "60", "--mutant", "no-prev-check"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("seed ") and "FAILED" in lines[0] and lines[-1].endswith("failed")
