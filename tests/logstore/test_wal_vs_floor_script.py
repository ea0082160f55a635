"""benchmarks/wal_vs_floor.py (the interleaved WAL-against-floor measurement quoted in the README) runs and prints
its one JSON line; the figures themselves are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "wal_vs_floor.py"


def test_prints_one_json_line(tmp_path: Path) -> None:
    command = [sys.executable, str(SCRIPT), "--batch", "16", "--batches", "4", "--dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["batch"] == 16 and result["batches"] == 4
    assert set(result["median_us_per_batch"]) == {"WALStore", "encoded", "floor", "handover", "checksum"}
    assert 0 < result["bound_checksummed"] <= result["bound_handover"] <= 1
    assert list(tmp_path.iterdir()) == []  # its files are removed
