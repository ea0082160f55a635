"""memdb benchmarks: raftstore.memdb over the C radix Tree and over PyTree, against sqlite3 in memory.

    PYTHONPATH=python python -m pytest benchmarks/bench_memdb.py --benchmark-enable --benchmark-only \
        --benchmark-group-by=group --benchmark-columns=min,median,ops,rounds

(--benchmark-enable overrides the --benchmark-disable of pyproject.toml's addopts; without it every body runs once
on 2,000 records, as a smoke test.)

Data: N Consul-like service records (default 1,000,000): id ``"<node>/<service>-<i>"`` in random order, node
(N/20 nodes), service name (1,000 names), 2 tags out of 10, a meta dict. memdb: one table, 4 indexes (``id``
unique, ``node`` and ``service`` non-unique, ``tags`` multi-valued). sqlite3 (``:memory:``): the same columns
(meta as JSON text) with indexes on node and service, and a ``(tag, id)`` WITHOUT ROWID table for the multi-valued
tags index; statements are prepared (the module's statement cache) and executemany is used where it applies.

Per round:
  insert (txn of 10,000)  all N records, committed every 10,000 (sqlite: executemany per batch, one commit each)
  insert (txn of 1)       the first SINGLE_N records (default: all N), one transaction (one commit) each
  get by id               100k point lookups of random ids (memdb: first(); sqlite: SELECT ... WHERE id=?)
  get by node             10k lookups of all services on a random node (~20 each), materialised as a list
  prefix scan             the records whose id starts with "node-0000" (~2,000; sqlite: a range on id)
  delete by index         delete_all by service name for 10 names (~1% of the records) in one txn; the full
                          database is set up untimed (memdb: an O(1) snapshot; sqlite: a backup copy)
  watch latency           a thread blocked in WatchSet.wait() on one record; time from just before the
                          updating commit to the waiter running (median in extra_info["median_us"])

Environment: RAFTSTORE_MEMDB_BENCH_N (records, default 1,000,000), RAFTSTORE_MEMDB_BENCH_PYTREE_N (records for the
PyTree backend, default 100,000; its groups then carry "[N=...]"), RAFTSTORE_MEMDB_BENCH_SINGLE_N (records
inserted one per txn, default N), RAFTSTORE_BENCH_ROUNDS (rounds of the heavy benchmarks, default 3).
These are measurements, never assertions on time: the asserts only check that every engine computed the same
answers.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import statistics
import threading
import time
from typing import Any

import pytest

from raftstore.bench.memdb import (
    BATCH,
    DELETE_SERVICES,
    ENGINES,
    SMOKE_N,
    WATCH_TRIALS,
    Dataset,
    MemDBEngine,
    Service,
    make_dataset,
)
from raftstore.memdb import WatchSet
from raftstore.radix import PyTree, Tree

# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def memdb_sizes(benchmarks_disabled: bool) -> dict[str, int]:
    if benchmarks_disabled:
        return {"n": SMOKE_N, "pytree_n": SMOKE_N, "single_n": 200, "rounds": 1}
    n = int(os.environ.get("RAFTSTORE_MEMDB_BENCH_N", 1_000_000))
    return {
        "n": n,
        "pytree_n": int(os.environ.get("RAFTSTORE_MEMDB_BENCH_PYTREE_N", min(n, 100_000))),
        "single_n": int(os.environ.get("RAFTSTORE_MEMDB_BENCH_SINGLE_N", n)),
        "rounds": int(os.environ.get("RAFTSTORE_BENCH_ROUNDS", 3)),
    }


@pytest.fixture(scope="session")
def _memdb_datasets() -> dict[tuple[int, int], Dataset]:
    return {}


@pytest.fixture(scope="module", params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


@pytest.fixture(scope="module")
def dataset(engine: Any, memdb_sizes: dict[str, int], _memdb_datasets: dict[tuple[int, int], Dataset]) -> Dataset:
    n = memdb_sizes["pytree_n"] if engine.name == "memdb[PyTree]" else memdb_sizes["n"]
    key = (n, memdb_sizes["single_n"])
    if key not in _memdb_datasets:
        _memdb_datasets.clear()  # one data set in memory at a time
        _memdb_datasets[key] = make_dataset(n, memdb_sizes["single_n"])
    return _memdb_datasets[key]


@pytest.fixture(scope="module")
def loaded(engine: Any, dataset: Dataset) -> Any:
    """The engine's database holding all N records (built once per engine, dropped before the next engine's)."""
    db = engine.insert_batches(engine.new(), dataset.records, BATCH)
    yield db
    if isinstance(db, sqlite3.Connection):
        db.close()
    del db
    gc.collect()


def _group(engine: Any, dataset: Dataset, sizes: dict[str, int], op: str) -> str:
    return f"memdb: {op}" if dataset.n == sizes["n"] else f"memdb: {op} [N={dataset.n:,}]"


def _info(benchmark: Any, engine: Any, dataset: Dataset, ops: int, **extra: Any) -> None:
    benchmark.extra_info.update(engine=engine.name, n=dataset.n, ops_per_round=ops, **extra)


def _rate(benchmark: Any, ops: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and ops:
        benchmark.extra_info["median_ops_per_s"] = round(ops / stats.stats.median)


# ------------------------------------------------------------------------------------------------ benchmarks


def test_insert_batched(benchmark: Any, engine: Any, dataset: Dataset, memdb_sizes: dict[str, int]) -> None:
    benchmark.group = _group(engine, dataset, memdb_sizes, f"insert (txn of {BATCH:,})")
    _info(benchmark, engine, dataset, dataset.n)
    box: list[Any] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        box.clear()
        gc.collect()
        return (engine.new(), dataset.records, BATCH), {}

    def target(db: Any, records: list[Service], batch: int) -> None:
        box.append(engine.insert_batches(db, records, batch))

    benchmark.pedantic(target, setup=setup, rounds=memdb_sizes["rounds"], warmup_rounds=0)
    _rate(benchmark, dataset.n)
    assert engine.count(box[0]) == dataset.n
    box.clear()


def test_insert_single(benchmark: Any, engine: Any, dataset: Dataset, memdb_sizes: dict[str, int]) -> None:
    benchmark.group = _group(engine, dataset, memdb_sizes, "insert (txn of 1)")
    single = dataset.records[: dataset.single_n]
    _info(benchmark, engine, dataset, len(single))
    box: list[Any] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        box.clear()
        db = engine.new()
        box.append(db)
        return (db, single), {}

    benchmark.pedantic(engine.insert_singles, setup=setup, rounds=memdb_sizes["rounds"], warmup_rounds=0)
    _rate(benchmark, len(single))
    assert engine.count(box[0]) == len(single)
    box.clear()


def test_get_by_id(benchmark: Any, engine: Any, dataset: Dataset, loaded: Any, memdb_sizes: dict[str, int]) -> None:
    benchmark.group = _group(engine, dataset, memdb_sizes, "get by id")
    _info(benchmark, engine, dataset, len(dataset.id_probes))
    found = benchmark(engine.get_ids, loaded, dataset.id_probes)
    _rate(benchmark, len(dataset.id_probes))
    assert all(f is not None for f in found)
    assert [f[0] if isinstance(f, tuple) else f.id for f in found[:100]] == dataset.id_probes[:100]


def test_get_by_node(benchmark: Any, engine: Any, dataset: Dataset, loaded: Any, memdb_sizes: dict[str, int]) -> None:
    benchmark.group = _group(engine, dataset, memdb_sizes, "get by node (secondary index)")
    _info(benchmark, engine, dataset, len(dataset.node_probes))
    found = benchmark(engine.get_nodes, loaded, dataset.node_probes)
    _rate(benchmark, len(dataset.node_probes))
    benchmark.extra_info["rows_per_lookup"] = round(sum(map(len, found)) / len(found), 1)
    first = sorted(r.id for r in dataset.records if r.node == dataset.node_probes[0])
    assert [row[0] if isinstance(row, tuple) else row.id for row in found[0]] == first


def test_prefix_scan(benchmark: Any, engine: Any, dataset: Dataset, loaded: Any, memdb_sizes: dict[str, int]) -> None:
    benchmark.group = _group(engine, dataset, memdb_sizes, "prefix scan")
    _info(benchmark, engine, dataset, len(dataset.prefix_ids), prefix=dataset.prefix)
    ids = benchmark(engine.prefix_scan, loaded, dataset.prefix)
    _rate(benchmark, len(dataset.prefix_ids))
    assert ids == dataset.prefix_ids


def test_delete_by_index(
    benchmark: Any, engine: Any, dataset: Dataset, loaded: Any, memdb_sizes: dict[str, int]
) -> None:
    benchmark.group = _group(engine, dataset, memdb_sizes, "delete by index")
    expected = sum(1 for r in dataset.records if r.service in set(dataset.delete_services))
    _info(benchmark, engine, dataset, expected, services=DELETE_SERVICES)
    counts: list[int] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (engine.copy(loaded), dataset.delete_services), {}

    def target(db: Any, names: list[str]) -> None:
        counts.append(engine.delete_by_service(db, names))

    benchmark.pedantic(target, setup=setup, rounds=memdb_sizes["rounds"], warmup_rounds=0)
    _rate(benchmark, expected)
    assert counts and all(c == expected for c in counts)
    assert engine.count(loaded) == dataset.n  # the copies took the deletes


@pytest.mark.parametrize("factory", [Tree, PyTree], ids=["memdb[Tree]", "memdb[PyTree]"])
def test_watch_latency(benchmark: Any, factory: Any, memdb_sizes: dict[str, int]) -> None:
    """From just before an updating commit to the WatchSet waiter running again, in another thread, on a table
    of 1,000 records (sqlite3 has no change notification to compare: a peer would be polling)."""
    engine = MemDBEngine(f"memdb[{factory.__name__}]", factory)
    benchmark.group = "memdb: watch latency"
    trials = WATCH_TRIALS if memdb_sizes["rounds"] > 1 else 20
    benchmark.extra_info.update(engine=engine.name, ops_per_round=1, trials=trials)
    records = make_dataset(1000, 0).records
    db = engine.insert_batches(engine.new(), records, BATCH)
    target_id = records[0].id
    latencies: list[float] = []

    def one_trial() -> None:
        ws = WatchSet()
        ws.add(db.txn().first_watch("services", "id", target_id)[0])
        ready, woke = threading.Event(), []

        def waiter() -> None:
            ready.set()
            timed_out = ws.wait(60.0)
            woke.append((time.perf_counter(), timed_out))

        thread = threading.Thread(target=waiter)
        thread.start()
        ready.wait(60.0)
        # Give the waiter time to block inside wait() (a wake-up from an already-fired watch measures nothing).
        deadline = time.perf_counter() + 0.002
        while time.perf_counter() < deadline:
            pass
        txn = db.txn(write=True)
        txn.insert("services", records[0])
        start = time.perf_counter()
        txn.commit()
        thread.join(60.0)
        end, timed_out = woke[0]
        assert not timed_out
        latencies.append(end - start)

    benchmark.pedantic(one_trial, rounds=trials, warmup_rounds=1)
    benchmark.extra_info["median_us"] = round(statistics.median(latencies) * 1e6, 1)
    benchmark.extra_info["p99_us"] = round(sorted(latencies)[max(0, int(len(latencies) * 0.99) - 1)] * 1e6, 1)
    benchmark.extra_info["max_us"] = round(max(latencies) * 1e6, 1)
