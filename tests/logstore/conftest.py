"""Fixtures of the log store tests: every backend behind one factory, so each conformance test runs on all of them.

* ``backend`` — parametrised over wal (C), pywal (pure Python, same files), memory, sqlite and lmdb (skipped only
  when the optional ``lmdb`` package is absent).
* ``durable_backend`` — the same without memory (for reopen and crash-shaped tests).
* ``wal_impl`` — the two WAL implementations only (format, recovery and corruption tests).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from raftstore.logstore import Log, LogType, MemoryStore, PyWALStore, SQLiteStore, WALStore

SMALL_SEGMENT = 256 << 10  # small segments so that ordinary tests rotate, seal and drop segments


@dataclass
class Backend:
    name: str
    opener: Callable[..., Any]
    durable: bool
    pure_python: bool

    def open(self, where: Path, **kw: Any) -> Any:
        return self.opener(where, **kw)


def _wal(where: Path, **kw: Any) -> Any:
    kw.setdefault("segment_size", SMALL_SEGMENT)
    return WALStore(where / "wal", **kw)


def _pywal(where: Path, **kw: Any) -> Any:
    kw.setdefault("segment_size", SMALL_SEGMENT)
    return PyWALStore(where / "wal", **kw)


def _memory(where: Path, **kw: Any) -> Any:
    return MemoryStore()


def _sqlite(where: Path, **kw: Any) -> Any:
    kw.pop("segment_size", None)
    return SQLiteStore(where / "log.sqlite", **kw)


def _lmdb(where: Path, **kw: Any) -> Any:
    from raftstore.logstore import LMDBStore

    kw.pop("segment_size", None)
    return LMDBStore(where / "lmdb", map_size=4 << 30, **kw)


BACKENDS = {
    "wal": Backend("wal", _wal, True, False),
    "pywal": Backend("pywal", _pywal, True, True),
    "memory": Backend("memory", _memory, False, True),
    "sqlite": Backend("sqlite", _sqlite, True, True),
    "lmdb": Backend("lmdb", _lmdb, True, True),
}


def _param(name: str) -> Any:
    marks = [pytest.mark.pure_python] if BACKENDS[name].pure_python else []
    return pytest.param(name, id=name, marks=marks)


def _get(name: str) -> Backend:
    if name == "lmdb" and importlib.util.find_spec("lmdb") is None:
        pytest.skip("the optional lmdb package is not installed (pip install lmdb)")
    return BACKENDS[name]


@pytest.fixture(params=[_param(n) for n in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return _get(request.param)


@pytest.fixture(params=[_param(n) for n in BACKENDS if BACKENDS[n].durable])
def durable_backend(request: pytest.FixtureRequest) -> Backend:
    return _get(request.param)


@pytest.fixture(params=[_param("wal"), _param("pywal")])
def wal_impl(request: pytest.FixtureRequest) -> Backend:
    return _get(request.param)


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``open_store(backend, **kw)``: opens the backend's store in this test's directory; closes all at the end."""
    opened: list[Any] = []

    def _open(b: Backend, **kw: Any) -> Any:
        s = b.open(tmp_path, **kw)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.close()


def make_logs(lo: int, hi: int, term: int = 1, size: int = 16) -> list[Log]:
    """Entries lo..hi with content derived from the index, so any mix-up shows."""
    types = (LogType.COMMAND, LogType.NOOP, LogType.BARRIER, LogType.CONFIGURATION)
    return [
        Log(
            i,
            term,
            types[i % 4],
            (i.to_bytes(8, "little") * (size // 8 + 1))[: size + i % 5],
            b"ext%d" % i if i % 3 == 0 else b"",
            1_700_000_000.0 + i / 8,
        )
        for i in range(lo, hi + 1)
    ]


@pytest.fixture(name="make_logs")
def make_logs_fixture() -> Callable[..., list[Log]]:
    return make_logs
