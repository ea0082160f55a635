"""`raftstore demo`, the Quick start's main command until the agent exists: it runs and shows every built layer."""

from __future__ import annotations

import pytest

from raftstore.cli import main


def test_demo_runs_every_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--keys", "3000"]) == 0
    out = capsys.readouterr().out
    assert "Tree:" in out and "PyTree:" in out and "the watch on that prefix fired: True" in out
    assert "cas at ModifyIndex 1 -> True" in out and "app/config/port = b'8501'" in out
    assert " Type " in out and " KVS " in out  # the inspected archive
    assert "3 servers: 20 seeds" in out and "5 servers: 20 seeds" in out and ", 0 failed" in out
