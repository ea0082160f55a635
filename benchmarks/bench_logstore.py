"""Log store benchmarks: WALStore (C), PyWALStore, SQLiteStore, LMDBStore, MemoryStore and the physical floor.

The backends and the floor are `raftstore.bench.logstore`'s, which `raftstore bench logstore` times too (interleaved
rounds, medians and spread, JSON and charts); this file keeps the pytest-benchmark view and the groups below.

    python -m pytest benchmarks/bench_logstore.py --benchmark-enable --benchmark-only \
        --benchmark-group-by=group --benchmark-columns=min,median,rounds

(without --benchmark-enable every body runs once on small data, as a smoke test). Entries carry 128 bytes of data.
Each group ranks the backends for one operation; extra_info["entries_per_s"] (from the median) is the figure to
compare, and the floors are in the same groups. Never timed assertions: the asserts check results only.

  durable append, batch=B   K batches of B entries per round, each batch one store_logs (one fsync where durable);
                            "WALStore (encoded batch)" appends the same entries as frames encoded untimed
                            (store_encoded: what a follower does with the leader's bytes);
                            the floor writes the WAL's bytes for the batch (frames + commit) with one fdatasync:
                            "floor (appended)" grows the file, "floor (preallocated)" overwrites a zero-filled one;
                            "Log handover only (bound)" (batches 64 and 1024) reads the Log objects as store_logs
                            does and writes nothing: floor / (floor + handover) bounds a store_logs' ratio
  append without sync       the same at batch 64 with every backend's sync off (UNSAFE modes)
  random get_log            100k get_log of random indexes in a log of N entries
  get_logs x64              2,000 get_logs of 64 consecutive entries at random places
  head truncation           delete_range(1, N) on a log of N + 64 entries, durable (the log is built untimed)
  append after burst        durable batch-64 appends after a burst of N entries and the head truncation of all
                            of them; extra_info has the same store's rate before the burst and the ratio

Environment (defaults in brackets; smoke values whenever benchmarks are disabled):
  RAFTSTORE_BENCH_LOGSTORE_N          entries for reads, truncation and the burst [1,000,000; smoke 2,000]
  RAFTSTORE_BENCH_LOGSTORE_PYWAL_N    N for PyWALStore (Python CRC-32C) [100,000]; its groups are suffixed [N=...]
  RAFTSTORE_BENCH_LOGSTORE_BATCHES    batches of 64 per round of durable append [300; smoke 3]
  RAFTSTORE_BENCH_LOGSTORE_ROUNDS     rounds [5; smoke 1]
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from raftstore.bench import logstore as lf  # the backends and the floor, shared with `raftstore bench logstore`
from raftstore.logstore._wal import read_entries

ENTRY_BYTES = lf.ENTRY_BYTES
STORES = [n for n in lf.LogBackend.names if n not in lf.LogBackend.floors and n != lf.LogBackend.encoded]


class Sizes:
    def __init__(self, disabled: bool) -> None:
        env = os.environ.get
        self.disabled = disabled
        self.n = 2_000 if disabled else int(env("RAFTSTORE_BENCH_LOGSTORE_N", 1_000_000))
        self.pywal_n = self.n if disabled else int(env("RAFTSTORE_BENCH_LOGSTORE_PYWAL_N", 100_000))
        self.batches = 3 if disabled else int(env("RAFTSTORE_BENCH_LOGSTORE_BATCHES", 300))
        self.rounds = 1 if disabled else int(env("RAFTSTORE_BENCH_LOGSTORE_ROUNDS", 5))
        self.lookups = 1_000 if disabled else 100_000
        self.ranges = 20 if disabled else 2_000

    def n_for(self, name: str) -> int:
        return self.pywal_n if name == "PyWALStore" else self.n

    def group(self, op: str, name: str) -> str:
        n = self.n_for(name)
        return f"logstore: {op}" if n == self.n else f"logstore: {op} [N={n:,}]"


@pytest.fixture(scope="session")
def ls_sizes(benchmarks_disabled: bool) -> Sizes:
    return Sizes(benchmarks_disabled)


def _need(name: str) -> None:
    if name == "LMDBStore":
        pytest.importorskip("lmdb", reason="the optional lmdb package is not installed (pip install lmdb)")


def _rate(benchmark: Any, entries_per_round: int) -> float | None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    rate = entries_per_round / stats.stats.median
    benchmark.extra_info["entries_per_s"] = round(rate)
    return rate


def _fill(b: Any, n: int, batch: int = 10_000) -> None:
    """n entries of 128 bytes in big batches (untimed setup)."""
    first = b.store.last_index() + 1
    payload = os.urandom(ENTRY_BYTES)
    from raftstore.logstore import Log

    for lo in range(first, first + n, batch):
        b.store.store_logs([Log(i, 1, data=payload) for i in range(lo, min(lo + batch, first + n))])


def _append_rounds(benchmark: Any, b: Any, size: int, count: int, rounds: int) -> None:
    """pedantic rounds of `count` batches of `size` entries, the batches built untimed before each round."""
    b.settle()
    state = {"next": 1 if b.is_floor else (b.store.last_index() + 1)}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        batches = lf.make_batches(state["next"], count, size, ENTRY_BYTES)
        state["next"] += count * size
        raws = [b.prepare(x) for x in batches]
        return (batches, raws), {}

    def run(batches: list[Any], raws: list[bytes]) -> None:
        append = b.append
        for batch, raw in zip(batches, raws, strict=True):
            append(batch, raw)

    benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=0)


@pytest.mark.parametrize("size", [1, 64, 1024])
@pytest.mark.parametrize("name", lf.LogBackend.names)
def test_durable_append(benchmark: Any, ls_sizes: Sizes, tmp_path: Path, name: str, size: int) -> None:
    _need(name)
    count = max(1, ls_sizes.batches * 64 // max(size, 64)) if size > 1 else ls_sizes.batches * 2
    room = (ls_sizes.rounds + 1) * count * len(lf.wal_bytes(lf.make_batches(1, 1, size, ENTRY_BYTES)[0]))
    b = lf.LogBackend(name, tmp_path / "b", sync=True, room=room)
    try:
        benchmark.group = f"logstore: durable append, batch={size}"
        benchmark.extra_info.update(backend=name, batch=size, batches_per_round=count, entry_bytes=ENTRY_BYTES)
        _append_rounds(benchmark, b, size, count, ls_sizes.rounds)
        _rate(benchmark, size * count)
        if not b.is_floor:
            assert b.store.last_index() - b.store.first_index() + 1 >= size * count * ls_sizes.rounds
    finally:
        b.destroy()


@pytest.mark.parametrize("size", [64, 1024])
def test_durable_append_handover_bound(benchmark: Any, ls_sizes: Sizes, size: int) -> None:
    """Not a backend: the CPU a `store_logs` spends only on reading its Python `Log` objects (`read_entries`: the
    WAL's own handover loop, nothing encoded or written). The floor pays none of it, so in the same group
    floor / (floor + this) bounds the ratio any store taking `Log` objects can reach against the floor."""
    count = max(1, ls_sizes.batches * 64 // size)
    benchmark.group = f"logstore: durable append, batch={size}"
    benchmark.extra_info.update(backend="Log handover only (bound)", batch=size, batches_per_round=count)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (lf.make_batches(1, count, size, ENTRY_BYTES),), {}

    def run(batches: list[Any]) -> None:
        for batch in batches:
            read_entries(batch)

    benchmark.pedantic(run, setup=setup, rounds=ls_sizes.rounds, warmup_rounds=0)
    _rate(benchmark, size * count)


@pytest.mark.parametrize("name", lf.LogBackend.names)
def test_append_without_sync(benchmark: Any, ls_sizes: Sizes, tmp_path: Path, name: str) -> None:
    _need(name)
    count = ls_sizes.batches
    room = (ls_sizes.rounds + 1) * count * len(lf.wal_bytes(lf.make_batches(1, 1, 64, ENTRY_BYTES)[0]))
    b = lf.LogBackend(name, tmp_path / "b", sync=False, room=room)
    try:
        benchmark.group = "logstore: append without sync (unsafe), batch=64"
        benchmark.extra_info.update(backend=name, batch=64, batches_per_round=count)
        _append_rounds(benchmark, b, 64, count, ls_sizes.rounds)
        _rate(benchmark, 64 * count)
    finally:
        b.destroy()


@pytest.fixture(scope="module", params=STORES)
def filled(request: pytest.FixtureRequest, ls_sizes: Sizes, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A store of each backend holding N entries (built once per module, dropped before the next backend's)."""
    _need(request.param)
    b = lf.LogBackend(request.param, tmp_path_factory.mktemp("filled"), sync=False)
    _fill(b, ls_sizes.n_for(b.name))
    yield b
    b.destroy()
    gc.collect()


def test_random_get_log(benchmark: Any, ls_sizes: Sizes, filled: Any) -> None:
    n = ls_sizes.n_for(filled.name)
    rng = random.Random(7)
    indexes = [rng.randint(1, n) for _ in range(ls_sizes.lookups)]
    benchmark.group = ls_sizes.group("random get_log", filled.name)
    benchmark.extra_info.update(backend=filled.name, n=n, lookups=len(indexes))
    get = filled.store.get_log

    def run() -> None:
        for i in indexes:
            get(i)

    benchmark.pedantic(run, rounds=ls_sizes.rounds, warmup_rounds=0 if ls_sizes.disabled else 1)
    _rate(benchmark, len(indexes))
    assert get(indexes[0]).index == indexes[0]


def test_get_logs_64(benchmark: Any, ls_sizes: Sizes, filled: Any) -> None:
    n = ls_sizes.n_for(filled.name)
    rng = random.Random(8)
    starts = [rng.randint(1, n - 63) for _ in range(ls_sizes.ranges)]
    benchmark.group = ls_sizes.group("get_logs of 64", filled.name)
    benchmark.extra_info.update(backend=filled.name, n=n, ranges=len(starts))
    get_logs = filled.store.get_logs

    def run() -> None:
        for lo in starts:
            get_logs(lo, lo + 63)

    benchmark.pedantic(run, rounds=ls_sizes.rounds, warmup_rounds=0 if ls_sizes.disabled else 1)
    _rate(benchmark, 64 * len(starts))
    assert [x.index for x in get_logs(starts[0], starts[0] + 63)] == list(range(starts[0], starts[0] + 64))


@pytest.mark.parametrize("name", STORES)
def test_head_truncation(benchmark: Any, ls_sizes: Sizes, tmp_path: Path, name: str) -> None:
    _need(name)
    n = ls_sizes.n_for(name)
    rounds = min(ls_sizes.rounds, 3)
    holder: list[Any] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        for old in holder:
            old.destroy()
        holder.clear()
        b = lf.LogBackend(name, tmp_path / f"r{time.monotonic_ns()}", sync=False)
        _fill(b, n + 64)
        if name != "MemoryStore":  # reopen durable: the truncation itself syncs like in production
            b.close()
            b.sync = True
            b.open()
        holder.append(b)
        return (b,), {}

    def run(b: Any) -> None:
        b.store.delete_range(1, n)

    benchmark.group = ls_sizes.group(f"head truncation of N entries (N={n:,})", name)
    benchmark.extra_info.update(backend=name, n=n)
    try:
        benchmark.pedantic(run, setup=setup, rounds=rounds, warmup_rounds=0)
        assert holder[0].store.first_index() == n + 1
        stats = getattr(benchmark, "stats", None)
        if stats is not None:
            benchmark.extra_info["median_ms"] = round(stats.stats.median * 1e3, 2)
    finally:
        for old in holder:
            old.destroy()


@pytest.mark.parametrize("name", STORES)
def test_append_after_burst(benchmark: Any, ls_sizes: Sizes, tmp_path: Path, name: str) -> None:
    """BoltDB's failure mode: after a burst and its truncation, do appends slow down?"""
    _need(name)
    n = ls_sizes.n_for(name)
    count = ls_sizes.batches
    b = lf.LogBackend(name, tmp_path / "b", sync=True)
    try:
        before = []
        b.settle()
        for _ in range(ls_sizes.rounds):
            batches = lf.make_batches(b.store.last_index() + 1, count, 64, ENTRY_BYTES)
            started = time.perf_counter()
            for batch in batches:
                b.append(batch, b"")
            before.append(time.perf_counter() - started)
        _fill(b, n)  # the burst (durable, in batches of 10,000)
        b.store.delete_range(1, b.store.last_index() - 64)
        benchmark.group = ls_sizes.group("durable append batch=64 after a burst + truncation", name)
        benchmark.extra_info.update(backend=name, burst=n, batches_per_round=count)
        _append_rounds(benchmark, b, 64, count, ls_sizes.rounds)
        rate = _rate(benchmark, 64 * count)
        before_rate = 64 * count / statistics.median(before)
        benchmark.extra_info["entries_per_s_before_burst"] = round(before_rate)
        if rate is not None:
            benchmark.extra_info["after_over_before"] = round(rate / before_rate, 3)
    finally:
        b.destroy()
