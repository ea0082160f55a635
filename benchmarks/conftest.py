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
import os
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

import raftstore.bench.radix as rm  # the data set, backends and adapters, shared with `raftstore bench`

SMOKE_N = 2_000


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
    """benchmarks/radix_memory.py (memory per key, measured in a fresh subprocess), loaded by path: pytest runs in
    importlib mode, where sibling modules cannot import each other."""
    name = "raftstore_benchmarks_radix_memory"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "radix_memory.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def _datasets() -> dict[int, rm.Dataset]:
    return {}


@pytest.fixture(scope="module", params=rm.BACKENDS)
def backend(request: pytest.FixtureRequest, bench_n: int, benchmarks_disabled: bool) -> rm.Backend:
    name: str = request.param
    if name in rm.IMPORTS:
        pytest.importorskip(rm.IMPORTS[name], reason=rm.INSTALL_HINTS[name])
    try:
        cls = rm.load(name)
    except rm.Unavailable as exc:  # raftstore.radix imported but Tree is still the pure-Python shim
        pytest.skip(str(exc))
    n = bench_n
    if name == "PyTree" and not benchmarks_disabled:
        n = int(os.environ.get("RAFTSTORE_BENCH_PYTREE_N", bench_n))
    b = rm.BACKEND_CLASSES[name](name, cls, n, bench_n)
    if request.config.getoption("benchmark_disable_gc", False):
        b.gc_mode = "disabled (--benchmark-disable-gc: not how users run)"
    return b


@pytest.fixture(scope="module")
def data(backend: rm.Backend, _datasets: dict[int, rm.Dataset]) -> rm.Dataset:
    """The data set at the backend's N (built once per N for the whole session)."""
    if backend.n not in _datasets:
        _datasets[backend.n] = rm.make_dataset(backend.n)
    return _datasets[backend.n]


@pytest.fixture(scope="module")
def built(backend: rm.Backend, data: rm.Dataset) -> Any:
    """The backend's structure holding all N keys, built once by its bulk-insert path and shared by the
    read benchmarks and the delete benchmark's setup; dropped before the next backend's is built."""
    s = backend.bulk_insert(data.keys, rm.VALUE)
    assert len(s) == data.n
    yield s
    del s
    gc.collect()
