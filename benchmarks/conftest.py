"""Fixtures of the radix-tree benchmark suite (benchmarks/bench_radix.py): the key data set and the backends.

Run:   PYTHONPATH=python python -m pytest benchmarks/ --benchmark-enable --benchmark-only \
           --benchmark-group-by=group --benchmark-columns=min,median,ops,rounds
       (--benchmark-enable overrides the --benchmark-disable in pyproject.toml's addopts)
Smoke: python -m pytest benchmarks/      (benchmarks disabled: every body once, at N=2,000)

Environment:
  RAFTSTORE_BENCH_N         keys per data set (default 1,000,000; 2,000 whenever benchmarks are disabled)
  RAFTSTORE_BENCH_PYTREE_N  a smaller N for the pure-Python PyTree only (default: N). When it differs from N,
                            the PyTree results carry "[N=...]" in their group name and extra_info, so they are
                            never ranked against backends measured at another N.
  RAFTSTORE_BENCH_ROUNDS    rounds of the heavy benchmarks (bulk insert/construct, delete half; default 5)

Backends (the fixture ``backend``, module-scoped and parametrized, id = backend name): Tree (the C tree),
PyTree, dict, sortedcontainers.SortedDict and immutables.Map. One that cannot be imported is skipped with an
install hint. Because the fixture is module-scoped, pytest runs all the benchmarks of one backend together and
drops its big structure before the next backend's are built: every benchmark runs with the garbage collector
on (as users run), and no backend pays for collecting another backend's objects.
"""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import random
import sys
from bisect import bisect_left
from dataclasses import dataclass, field
from fnmatch import fnmatch
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

_HERE = Path(__file__).resolve().parent


def _load_radix_memory() -> Any:
    """benchmarks/radix_memory.py holds the key generator and the builders: load it by path (pytest runs in
    importlib mode, where sibling modules cannot import each other)."""
    name = "raftstore_benchmarks_radix_memory"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / "radix_memory.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rm = _load_radix_memory()

SMOKE_N = 2_000
HIT_SAMPLE = 100_000  # point lookups per round (hits and misses alike)
SEEK_PROBES = 1_000  # lower-bound seeks per round
SEEK_STEPS = 100  # items taken after each seek
PREFIX_TARGET = 1_000  # keys a prefix scan should cover


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect benchmarks/bench_*.py (pytest's default pattern is test_*.py), so `pytest benchmarks/` finds
    them, unless pytest collects the file itself anyway (named on the command line, or in python_files)."""
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if parent.session.isinitpath(file_path) or any(
        fnmatch(file_path.name, pattern) for pattern in parent.config.getini("python_files")
    ):
        return None
    return pytest.Module.from_parent(parent, path=file_path)


# ------------------------------------------------------------------------------------------------- data set


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with prefix (None: there is none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


@dataclass(frozen=True)
class Dataset:
    n: int
    keys: list[bytes]  # all N keys, unique, in random (insertion) order
    sorted_keys: list[bytes]
    hits: list[bytes]  # a fixed random sample of min(N, 100k) stored keys (equal copies)
    misses: list[bytes]  # as many absent keys of the same shape
    prefix: bytes  # a prefix that about 1,000 keys start with
    prefix_keys: list[bytes]  # the keys that start with it, ascending
    probes: list[bytes]  # random lower-bound seek targets (mostly absent keys)
    half: list[bytes]  # every other key of `keys` (equal copies): a random half, in random order
    seek_steps: int  # items taken after each seek
    digits: Any = field(repr=False)  # the key material, for the memory subprocess
    nodes: bytes = field(repr=False)


def _copy(key: bytes) -> bytes:
    return bytes(bytearray(key))  # an equal bytes object that is not the same object


def make_dataset(n: int) -> Dataset:
    digits, nodes = rm.key_parts(n)
    keys = list(rm.iter_keys(digits, nodes))
    sorted_keys = sorted(keys)
    rng = random.Random(rm.SEED + 1)
    # Lookups and deletes use equal copies, not the stored objects: a caller's key is a fresh object, and the
    # hash maps must not get the `is` shortcut for free (hashes still get cached after the first round).
    hits = [_copy(k) for k in rng.sample(keys, min(n, HIT_SAMPLE))]
    present = set(keys)
    misses: list[bytes] = []
    while len(misses) < len(hits):
        k = rm.KEY_FORMAT % (rng.randrange(10**8), rng.randrange(10))
        if k not in present:
            misses.append(k)
            present.add(k)
    del present
    # b"service/123" for N = 1M: 8 random digits, so each leading digit fixed divides the count by 10.
    fixed = min(8, max(0, round(math.log10(max(n, 1) / PREFIX_TARGET))))
    prefix = b"service/" + b"12345678"[:fixed]
    hi = prefix_successor(prefix)
    lo_i = bisect_left(sorted_keys, prefix)
    hi_i = len(sorted_keys) if hi is None else bisect_left(sorted_keys, hi)
    probes = [b"service/%08d" % rng.randrange(10**8) for _ in range(min(n, SEEK_PROBES))]
    return Dataset(
        n=n,
        keys=keys,
        sorted_keys=sorted_keys,
        hits=hits,
        misses=misses,
        prefix=prefix,
        prefix_keys=sorted_keys[lo_i:hi_i],
        probes=probes,
        half=[_copy(k) for k in keys[::2]],
        seek_steps=SEEK_STEPS,
        digits=digits,
        nodes=nodes,
    )


@pytest.fixture(scope="session")
def benchmarks_disabled(request: pytest.FixtureRequest) -> bool:
    """Whether pytest-benchmark only runs each body once: --benchmark-disable (in the project's addopts) without
    --benchmark-enable, or disabled by the plugin itself (xdist)."""
    session = getattr(request.config, "_benchmarksession", None)  # the plugin's own verdict
    if session is not None:
        return bool(session.disabled)
    try:
        return bool(request.config.getoption("benchmark_disable")) and not request.config.getoption("benchmark_enable")
    except ValueError:  # pytest-benchmark not loaded
        return True


@pytest.fixture(scope="session")
def bench_n(benchmarks_disabled: bool) -> int:
    """N for every backend but PyTree."""
    if benchmarks_disabled:
        return SMOKE_N
    return int(os.environ.get("RAFTSTORE_BENCH_N", rm.DEFAULT_N))


@pytest.fixture(scope="session")
def heavy_rounds(benchmarks_disabled: bool) -> int:
    return 1 if benchmarks_disabled else int(os.environ.get("RAFTSTORE_BENCH_ROUNDS", 5))


@pytest.fixture(scope="session")
def radix_memory() -> Any:
    """The benchmarks/radix_memory.py module (memory measurement in a subprocess, key generator, builders)."""
    return rm


@pytest.fixture(scope="session")
def _datasets() -> dict[int, Dataset]:
    return {}


# ------------------------------------------------------------------------------------------------- backends


class Backend:
    """One backend's way of doing each benchmarked operation. The timed code is each method's body."""

    name: str
    ordered = True
    persistent = True
    has_bulk_construct = False
    unordered_reason = ""
    gc_mode = "enabled"

    def __init__(self, name: str, cls: Any, n: int, main_n: int) -> None:
        self.name = name
        self.cls = cls
        self.n = n  # the N this backend is measured at
        self.main_n = main_n  # the N of everyone else
        self.impl = f"{cls.__module__}.{cls.__qualname__}"

    def group(self, op: str) -> str:
        """The benchmark group: one per operation, so the table ranks the backends per operation."""
        if self.n == self.main_n:
            return f"radix: {op}"
        return f"radix: {op} [N={self.n:,}]"

    def bulk_insert(self, keys: list[bytes], value: Any) -> Any:
        return rm.bulk_insert(self.name, self.cls, keys, value)

    def bulk_construct(self, keys: list[bytes], value: Any) -> Any:
        return rm.bulk_construct(self.name, self.cls, keys, value)

    def lookup(self, s: Any, keys: list[bytes]) -> None:
        get = s.get
        for k in keys:
            get(k)

    # Each subclass adds delete_many(s, keys) and, when `ordered`, prefix_items / seek / seek_one.

    def for_delete(self, s: Any) -> Any:
        """The full structure a delete round starts from. A persistent one is shared: no round changes it."""
        return s


class RadixBackend(Backend):
    """raftstore.radix.Tree / PyTree."""

    def prefix_items(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        return list(s.items(prefix))

    def seek(self, s: Any, probes: list[bytes], steps: int) -> None:
        seek = s.seek_lower_bound
        for p in probes:
            list(islice(seek(p), steps))

    def seek_one(self, s: Any, probe: bytes, steps: int) -> list[tuple[bytes, Any]]:
        return list(islice(s.seek_lower_bound(probe), steps))

    def delete_many(self, s: Any, keys: list[bytes]) -> Any:
        txn = s.txn()
        delete = txn.delete
        for k in keys:
            delete(k)
        return txn.commit()


class _MutableMapBackend(Backend):
    """dict and SortedDict: deleted from in place, so each delete round starts from a copy."""

    persistent = False
    has_bulk_construct = True

    def for_delete(self, s: Any) -> Any:
        return s.copy()

    def delete_many(self, s: Any, keys: list[bytes]) -> Any:
        for k in keys:
            del s[k]
        return s


class DictBackend(_MutableMapBackend):
    ordered = False
    unordered_reason = "dict is a hash map: no key order, so no prefix scan or lower-bound seek"


class SortedDictBackend(_MutableMapBackend):
    # Both ordered operations slice the sorted key list by position (bisect) and look the values up in the
    # underlying dict: measured faster than `irange(...)` + per-key lookups, so the peer is shown at its best.
    def prefix_items(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        # Keys starting with prefix are exactly the half-open range [prefix, prefix_successor(prefix)).
        hi = prefix_successor(prefix)
        ks = s.keys()[s.bisect_left(prefix) : len(s) if hi is None else s.bisect_left(hi)]
        return list(zip(ks, map(s.__getitem__, ks), strict=True))

    def seek(self, s: Any, probes: list[bytes], steps: int) -> None:
        keys_view = s.keys()
        bisect = s.bisect_left
        getitem = s.__getitem__
        for p in probes:
            i = bisect(p)
            ks = keys_view[i : i + steps]
            list(zip(ks, map(getitem, ks), strict=True))

    def seek_one(self, s: Any, probe: bytes, steps: int) -> list[tuple[bytes, Any]]:
        i = s.bisect_left(probe)
        ks = s.keys()[i : i + steps]
        return list(zip(ks, map(s.__getitem__, ks), strict=True))

    # The reference peer operation: SortedDict.irange (a generator over the range) + value lookups.
    def prefix_items_irange(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        hi = prefix_successor(prefix)
        getitem = s.__getitem__
        return [(k, getitem(k)) for k in s.irange(prefix, hi, inclusive=(True, False))]

    def seek_irange(self, s: Any, probes: list[bytes], steps: int) -> None:
        irange, getitem = s.irange, s.__getitem__
        for p in probes:
            [(k, getitem(k)) for k in islice(irange(minimum=p), steps)]


class MapBackend(Backend):
    ordered = False
    has_bulk_construct = True
    unordered_reason = "immutables.Map is a hash array mapped trie: no key order, so no prefix scan or seek"

    def delete_many(self, s: Any, keys: list[bytes]) -> Any:
        with s.mutate() as mm:
            for k in keys:
                del mm[k]
            return mm.finish()


_BACKEND_CLASSES = {
    "Tree": RadixBackend,
    "PyTree": RadixBackend,
    "dict": DictBackend,
    "SortedDict": SortedDictBackend,
    "immutables.Map": MapBackend,
}
_IMPORTS = {  # backend -> module to importorskip
    "Tree": "raftstore.radix",
    "PyTree": "raftstore.radix",
    "SortedDict": "sortedcontainers",
    "immutables.Map": "immutables",
}


@pytest.fixture(scope="module", params=rm.BACKENDS)
def backend(request: pytest.FixtureRequest, bench_n: int, benchmarks_disabled: bool) -> Backend:
    name: str = request.param
    if name in _IMPORTS:
        pytest.importorskip(_IMPORTS[name], reason=rm.INSTALL_HINTS[name])
    try:
        cls = rm.load(name)
    except rm.Unavailable as exc:  # raftstore.radix imported but Tree is still the pure-Python shim
        pytest.skip(str(exc))
    n = bench_n
    if name == "PyTree" and not benchmarks_disabled:
        n = int(os.environ.get("RAFTSTORE_BENCH_PYTREE_N", bench_n))
    b = _BACKEND_CLASSES[name](name, cls, n, bench_n)
    if request.config.getoption("benchmark_disable_gc", False):
        b.gc_mode = "disabled (--benchmark-disable-gc: not how users run)"
    return b


@pytest.fixture(scope="module")
def data(backend: Backend, _datasets: dict[int, Dataset]) -> Dataset:
    """The data set at the backend's N (built once per N for the whole session)."""
    if backend.n not in _datasets:
        _datasets[backend.n] = make_dataset(backend.n)
    return _datasets[backend.n]


@pytest.fixture(scope="module")
def built(backend: Backend, data: Dataset) -> Any:
    """The backend's structure holding all N keys, built once by its bulk-insert path and shared by the
    read benchmarks and the delete benchmark's setup; dropped before the next backend's is built."""
    s = backend.bulk_insert(data.keys, rm.VALUE)
    assert len(s) == data.n
    yield s
    del s
    gc.collect()
