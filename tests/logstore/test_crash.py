"""Crash tests: a writer in a child process (crash_writer.py) is killed with SIGKILL at random points; after each
kill the store is reopened and must hold exactly the acknowledged operations, plus at most the one in flight, in
full or not at all (a batch is atomic). Each run continues on the directory the previous kill left behind.

Runs per implementation: RAFTSTORE_LOGSTORE_CRASH_RUNS (default 30 for the C WAL, a third of that for the
pure-Python one); set it to a few hundred for the long run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from raftstore.logstore import PyWALStore, WALStore

HERE = Path(__file__).resolve().parent
RUNS = int(os.environ.get("RAFTSTORE_LOGSTORE_CRASH_RUNS", "30"))


def _load_entry_data() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("raftstore_tests_crash_writer", HERE / "crash_writer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.entry_data


entry_data = _load_entry_data()


class Model:
    """What the log must hold: first index, the term of every entry, and the current term."""

    def __init__(self) -> None:
        self.first = 0
        self.terms: list[int] = []
        self.term = 1

    def copy(self) -> Model:
        m = Model()
        m.first, m.terms, m.term = self.first, list(self.terms), self.term
        return m

    @property
    def last(self) -> int:
        return self.first + len(self.terms) - 1 if self.terms else 0

    def apply(self, op: str) -> None:
        kind, *args = op.split()
        a = [int(x) for x in args]
        if kind == "P":
            if not self.terms:
                self.first = a[0]
            assert a[0] == self.first + len(self.terms)
            self.terms += [a[2]] * a[1]
        elif kind == "H":
            del self.terms[: a[0] + 1 - self.first]
            self.first = a[0] + 1
        elif kind == "T":
            del self.terms[a[0] - self.first :]
            if not self.terms:
                self.first = 0
        elif kind == "S":
            self.term = a[0]

    def matches(self, store: Any) -> bool:
        if (store.first_index(), store.last_index()) != (self.first if self.terms else 0, self.last):
            return False
        if store.get_uint64(b"CurrentTerm") not in (0, self.term) or (
            self.term > 1 and store.get_uint64(b"CurrentTerm") != self.term
        ):
            return False
        if not self.terms:
            return True
        logs = store.get_logs(self.first, self.last)
        return all(
            log.index == self.first + k and log.term == t and log.data == entry_data(log.index, t)
            for k, (log, t) in enumerate(zip(logs, self.terms, strict=True))
        )


def _run_child(impl: str, directory: Path, seed: int, kill_after: float) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), impl, str(directory), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()  # blocks until the child opened the store (or died)
        assert ready.startswith("READY"), (ready, proc.stderr.read() if proc.stderr else "")
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        # Read through the same buffered file object as readline() (communicate() would bypass its buffer).
        rest = proc.stdout.read()
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err  # it was running (no exception) until killed
    return [ready, *rest.splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["wal", pytest.param("pywal", marks=pytest.mark.pure_python)])
def test_sigkill_keeps_every_acknowledged_batch(impl: str, tmp_path: Path) -> None:
    cls = WALStore if impl == "wal" else PyWALStore
    runs = RUNS if impl == "wal" else max(1, RUNS // 3)
    rng = random.Random(0xC0FFEE + runs)
    model = Model()
    directory = tmp_path / "wal"
    inflight_applied = 0
    for run in range(runs):
        lines = _run_child(impl, directory, rng.randrange(1 << 30), rng.uniform(0.0, 0.4))
        begun = None
        for line in lines[1:]:
            if line.startswith("B "):
                begun = line[2:]
            elif line.startswith("A "):
                assert line[2:] == begun
                model.apply(begun)
                begun = None
            # a partial last line (killed mid-write) is neither: the op it announced is still in flight
        candidates = [model]
        if begun is not None:
            after = model.copy()
            after.apply(begun)
            candidates.append(after)
        with cls(directory, segment_size=64 << 10) as store:
            matched = [m for m in candidates if m.matches(store)]
            assert matched, (
                f"run {run}: store {store.first_index()}..{store.last_index()} term "
                f"{store.get_uint64(b'CurrentTerm')} matches none of "
                f"{[(m.first, m.last, m.term) for m in candidates]} (in flight: {begun})"
            )
        if matched[0] is not model:
            inflight_applied += 1
        model = matched[0]
    print(f"{impl}: {runs} kills, last index {model.last}, {inflight_applied} in-flight ops found complete")
