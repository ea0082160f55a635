"""The cluster benchmark's CPU accounting (`raftstore.testing.raftproc.cpu`): it must see real CPU use, grow with
work, and say "unknown" rather than report a wrong figure."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from raftstore.testing.raftproc.cpu import cpu_us_per_commit, process_cpu_seconds

pytestmark = pytest.mark.pure_python


def test_a_busy_process_accumulates_cpu_time() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first = process_cpu_seconds([busy.pid])
        assert first is not None
        deadline = time.monotonic() + 60
        while True:  # waits for a condition, not a fixed sleep: the machine may be loaded
            later = process_cpu_seconds([busy.pid])
            assert later is not None
            if later - first >= 0.05:
                break
            assert time.monotonic() < deadline, "a spinning process used no CPU in 60 s"
            time.sleep(0.05)
    finally:
        busy.kill()
        busy.wait()


def test_a_missing_process_gives_no_figure() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_cpu_seconds([gone.pid]) is None


def test_per_commit_figure() -> None:
    assert cpu_us_per_commit(1.0, 1.5, 1000) == pytest.approx(500.0)
    assert cpu_us_per_commit(None, 1.5, 1000) is None
    assert cpu_us_per_commit(1.0, None, 1000) is None
    assert cpu_us_per_commit(1.0, 1.5, 0) is None
