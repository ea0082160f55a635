"""Radix-tree benchmarks: raftstore.radix.Tree (C) and PyTree against dict, SortedDict and immutables.Map.

    PYTHONPATH=python python -m pytest benchmarks/bench_radix.py --benchmark-enable --benchmark-only \
        --benchmark-group-by=group --benchmark-columns=min,median,ops,rounds

(--benchmark-enable overrides the --benchmark-disable of pyproject.toml's addopts; without it every benchmark
body runs once at N=2,000, as a smoke test.)

Each operation is its own benchmark group ("radix: <op>") and each backend one parameter of it, so the
table ranks the backends per operation. N = 1,000,000 keys like b"service/<8 random digits>/node-<0..3>" in
random order (fixed seed; see conftest.py for the knobs). The garbage collector stays on. These are
measurements, never assertions on time: the only asserts check that every backend computed the right answer
(outside the timing).

Per round:
  bulk insert       all N keys inserted one by one (the trees: one txn + commit; Map: one mutation + finish)
  bulk construct    the constructor from an unsorted iterable of (key, value) pairs (dict, SortedDict, Map)
  get (hit)         100k lookups of stored keys (a fixed random sample; equal copies, not the stored objects)
  get (miss)        100k lookups of absent keys of the same shape
  prefix scan       all (key, value) pairs under a prefix covering ~1,000 keys (b"service/123" at N=1M);
                    SortedDict twice: slicing its key list by bisect (its fastest form) and through irange
  seek + 100 steps  1,000 lower-bound seeks from random keys, taking the next 100 pairs after each (SortedDict
                    likewise twice)
  delete half       N/2 keys deleted (trees: one txn + commit; Map: one mutation); the full structure is set
                    up untimed (a copy for the mutable dict/SortedDict, the shared one for the persistent)
  memory            bytes per key, measured in a fresh subprocess by benchmarks/radix_memory.py (extra_info)
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

import pytest


def _info(benchmark: Any, backend: Any, data: Any, **extra: Any) -> None:
    benchmark.extra_info.update(backend=backend.name, impl=backend.impl, n=data.n, gc=backend.gc_mode, **extra)
    if backend.n != backend.main_n:
        benchmark.extra_info["note"] = f"{backend.name} measured at N={backend.n:,}, the others at {backend.main_n:,}"


def _per_op(benchmark: Any, ops: int) -> None:
    """Add the median time per elementary operation (ns) once the benchmark ran."""
    stats = getattr(benchmark, "stats", None)
    if stats is not None and ops:
        benchmark.extra_info["ops_per_round"] = ops
        benchmark.extra_info["median_ns_per_op"] = round(stats.stats.median / ops * 1e9, 1)


def _heavy(benchmark: Any, rounds: int, make: Any, target: Any) -> None:
    """pedantic rounds of `target(box)` where `box = [make()]` is set up untimed and the result (left in the
    box) is dropped untimed, so neither building the input nor deallocating the output is measured."""
    box: list[Any] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        box.clear()
        if make is not None:
            box.append(make())
        return (box,), {}

    benchmark.pedantic(target, setup=setup, teardown=lambda b: b.clear(), rounds=rounds, warmup_rounds=0)
    box.clear()


def _bulk(benchmark: Any, backend: Any, data: Any, heavy_rounds: int, op: str, build: Any) -> Any:
    """Times `build(keys, value)` over all N keys in heavy rounds; returns the value stored."""
    benchmark.group = backend.group(op)
    _info(benchmark, backend, data)
    keys, value = data.keys, object()

    def target(box: list[Any]) -> None:
        box.append(build(keys, value))

    _heavy(benchmark, heavy_rounds, None, target)
    _per_op(benchmark, data.n)
    return value


def test_bulk_insert(benchmark: Any, backend: Any, data: Any, heavy_rounds: int) -> None:
    _bulk(benchmark, backend, data, heavy_rounds, "bulk insert", backend.bulk_insert)


def test_bulk_construct(benchmark: Any, backend: Any, data: Any, heavy_rounds: int) -> None:
    if not backend.has_bulk_construct:
        pytest.skip(f"{backend.name} has no bulk constructor: its bulk path is one txn ('radix: bulk insert')")
    value = _bulk(benchmark, backend, data, heavy_rounds, "bulk construct", backend.bulk_construct)
    sample = data.keys[:1000]
    s = backend.bulk_construct(sample, value)
    assert len(s) == len(sample) and all(s[k] is value for k in sample)


def test_get_hit(benchmark: Any, backend: Any, data: Any, built: Any) -> None:
    benchmark.group = backend.group("get (hit)")
    _info(benchmark, backend, data, lookups=len(data.hits))
    benchmark(backend.lookup, built, data.hits)
    _per_op(benchmark, len(data.hits))
    get = built.get
    assert all(get(k) is not None for k in data.hits)


def test_get_miss(benchmark: Any, backend: Any, data: Any, built: Any) -> None:
    benchmark.group = backend.group("get (miss)")
    _info(benchmark, backend, data, lookups=len(data.misses))
    benchmark(backend.lookup, built, data.misses)
    _per_op(benchmark, len(data.misses))
    get = built.get
    assert all(get(k) is None for k in data.misses)


def test_prefix_scan(benchmark: Any, backend: Any, data: Any, built: Any) -> None:
    if not backend.ordered:
        pytest.skip(backend.unordered_reason)
    benchmark.group = backend.group("prefix scan")
    _info(benchmark, backend, data, prefix=data.prefix.decode(), keys_per_scan=len(data.prefix_keys))
    result = benchmark(backend.prefix_items, built, data.prefix)
    _per_op(benchmark, len(data.prefix_keys))
    assert [k for k, _ in result] == data.prefix_keys


def test_seek(benchmark: Any, backend: Any, data: Any, built: Any) -> None:
    if not backend.ordered:
        pytest.skip(backend.unordered_reason)
    steps = data.seek_steps
    benchmark.group = backend.group(f"seek + {steps} steps")
    _info(benchmark, backend, data, seeks=len(data.probes), steps=steps)
    benchmark(backend.seek, built, data.probes, steps)
    _per_op(benchmark, len(data.probes))
    for p in data.probes[:50]:
        i = bisect_left(data.sorted_keys, p)
        assert [k for k, _ in backend.seek_one(built, p, steps)] == data.sorted_keys[i : i + steps]


def test_prefix_scan_irange(benchmark: Any, backend: Any, data: Any, built: Any) -> None:
    """SortedDict's prefix scan through `irange`, the peer operation the targets are stated against (the
    bisect-slicing form above is SortedDict at its fastest)."""
    if not hasattr(backend, "prefix_items_irange"):
        pytest.skip(f"the irange form is SortedDict's; {backend.name} is measured in test_prefix_scan")
    benchmark.group = backend.group("prefix scan")
    _info(benchmark, backend, data, prefix=data.prefix.decode(), keys_per_scan=len(data.prefix_keys), form="irange")
    result = benchmark(backend.prefix_items_irange, built, data.prefix)
    _per_op(benchmark, len(data.prefix_keys))
    assert [k for k, _ in result] == data.prefix_keys


def test_seek_irange(benchmark: Any, backend: Any, data: Any, built: Any) -> None:
    """SortedDict's lower-bound seek through `irange(minimum=...)`, the peer operation the targets name."""
    if not hasattr(backend, "seek_irange"):
        pytest.skip(f"the irange form is SortedDict's; {backend.name} is measured in test_seek")
    steps = data.seek_steps
    benchmark.group = backend.group(f"seek + {steps} steps")
    _info(benchmark, backend, data, seeks=len(data.probes), steps=steps, form="irange")
    benchmark(backend.seek_irange, built, data.probes, steps)
    _per_op(benchmark, len(data.probes))


def test_delete_half(benchmark: Any, backend: Any, data: Any, built: Any, heavy_rounds: int) -> None:
    benchmark.group = backend.group("delete half")
    _info(benchmark, backend, data, deletes=len(data.half))
    half, delete_many = data.half, backend.delete_many

    def target(box: list[Any]) -> None:
        box.append(delete_many(box.pop(), half))

    _heavy(benchmark, heavy_rounds, lambda: backend.for_delete(built), target)
    _per_op(benchmark, len(half))
    assert len(built) == data.n  # the shared structure is untouched
    tenth = half[: len(half) // 10]
    after = delete_many(backend.for_delete(built), tenth)
    assert len(after) == data.n - len(tenth)
    assert after.get(tenth[0]) is None and after.get(data.keys[1]) is not None


def test_memory(
    benchmark: Any, backend: Any, data: Any, radix_memory: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Memory per key, in a fresh subprocess (benchmarks/radix_memory.py). The time shown is the whole
    subprocess's (start-up, key material, build): uninteresting. The figure is extra_info["bytes_per_key"]."""
    benchmark.group = backend.group("memory")
    _info(benchmark, backend, data)
    path = tmp_path_factory.getbasetemp() / f"radix-keys-{data.n}.bin"
    if not path.exists():
        radix_memory.write_key_parts(path, data.digits, data.nodes)
    reports: list[dict[str, Any]] = []

    def target() -> None:
        reports.append(radix_memory.measure(backend.name, data.n, path))

    benchmark.pedantic(target, rounds=1, iterations=1)
    report = reports[-1]
    if "skipped" in report:  # cannot happen after the fixture's checks, but never drop a backend silently
        pytest.skip(report["skipped"])
    benchmark.extra_info.update(
        bytes_per_key=round(report["bytes_per_key"], 1),
        rss_growth_mib=round((report["rss_after"] - report["rss_before"]) / 2**20, 1),
        gc_tracked_per_key=round(report["gc_tracked_per_key"], 2) + 0.0,  # no "-0.0"
        subprocess_build_seconds=round(report["build_seconds"], 3),
    )
    assert report["impl"] == backend.impl
