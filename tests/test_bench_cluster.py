"""The cluster layer of `raftstore bench`: a quick run measures raftstore's three-process cluster at 1, 64 and 256
in flight (self-timed, so start-up never counts) and reports the peers as skipped with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raftstore.cli import main

pytestmark = pytest.mark.pure_python


def test_quick_cluster_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cluster.json"
    assert main(["bench", "cluster", "--quick", "--rounds", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    text = json.dumps(report)
    for in_flight in (1, 64, 256):
        assert f"apply, {in_flight} in flight" in text
    assert "left out of --quick runs" in text
    assert "raftstore" in capsys.readouterr().out
    cells = [r for r in report["results"] if r["layer"] == "cluster"]
    assert len(cells) == 3
    for cell in cells:  # every sample carries its latency percentiles, in order
        latency = cell["latency_us"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
