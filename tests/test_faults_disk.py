"""The slow/failing disk wrapper over real stores: it satisfies the protocols, delays each durable write, and fails
the Nth write before or after it reaches the store, then refuses writes until reopened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from raftstore.logstore import (
    LogStore,
    LogStoreError,
    LogStoreIOError,
    MemoryStore,
    PyWALStore,
    StableStore,
    StoreFailedError,
    WALStore,
)
from raftstore.logstore.log import Log
from raftstore.testing.faults.disk import FaultyStore


def logs(lo: int, hi: int) -> list[Log]:
    return [Log(i, 1, data=b"x%d" % i) for i in range(lo, hi + 1)]


OPENERS = {
    "memory": lambda where: MemoryStore(),
    "pywal": lambda where: PyWALStore(where / "wal", segment_size=64 << 10),
    "wal": lambda where: WALStore(where / "wal", segment_size=64 << 10),
}


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.pure_python),
        pytest.param("pywal", marks=pytest.mark.pure_python),
        "wal",
    ]
)
def opener(request: pytest.FixtureRequest) -> Any:
    return OPENERS[request.param]


def test_passes_everything_through(opener: Any, tmp_path: Path) -> None:
    with FaultyStore(opener(tmp_path)) as store:
        assert isinstance(store, LogStore) and isinstance(store, StableStore)
        store.store_logs(logs(1, 10))
        store.store_log(logs(11, 11)[0])
        store.delete_range(1, 3)
        store.set(b"k", b"v")
        store.set_uint64(b"CurrentTerm", 7)
        assert (store.first_index(), store.last_index()) == (4, 11)
        assert store.get_logs(4, 11) == logs(4, 11) and store.get_log(5) == logs(5, 5)[0]
        assert store.get(b"k") == b"v" and store.get_uint64(b"CurrentTerm") == 7
        assert store.is_monotonic() == store.inner.is_monotonic()
        assert store.writes == 5 and store.injected_failures == 0


def test_each_durable_write_is_delayed_and_reads_are_not(tmp_path: Path) -> None:
    slept: list[float] = []
    store = FaultyStore(MemoryStore(), sleep=slept.append)
    store.set_sync_delay(0.25)
    store.store_logs(logs(1, 5))
    store.set(b"k", b"v")
    store.get_logs(1, 5)
    store.get(b"k")
    assert slept == [0.25, 0.25] and store.delayed_seconds == 0.5
    store.heal()
    store.delete_range(1, 2)
    assert slept == [0.25, 0.25]


def test_real_sleep_slows_the_write(tmp_path: Path) -> None:
    import time

    store = FaultyStore(MemoryStore())
    store.set_sync_delay(0.1)
    started = time.monotonic()
    store.store_logs(logs(1, 1))
    assert time.monotonic() - started >= 0.1


def test_failure_before_the_write(opener: Any, tmp_path: Path) -> None:
    store = FaultyStore(opener(tmp_path))
    store.fail_after(2)
    store.store_logs(logs(1, 5))
    store.set_uint64(b"CurrentTerm", 1)
    with pytest.raises(LogStoreIOError, match="injected I/O error before store_logs"):
        store.store_logs(logs(6, 8))
    assert store.last_index() == 5 and store.failed  # it never reached the store
    with pytest.raises(StoreFailedError):
        store.set_uint64(b"CurrentTerm", 2)
    with pytest.raises(LogStoreError):
        store.store_logs(logs(6, 8))
    assert store.get_logs(1, 5) == logs(1, 5)  # reads still work
    assert store.injected_failures == 1
    store.close()
    if opener is not OPENERS["memory"]:
        with FaultyStore(opener(tmp_path)) as reopened:  # a new wrapper over the reopened store is healthy
            assert reopened.last_index() == 5 and reopened.get_uint64(b"CurrentTerm") == 1
            reopened.store_logs(logs(6, 8))


def test_failure_after_the_write_reached_the_store(opener: Any, tmp_path: Path) -> None:
    store = FaultyStore(opener(tmp_path))
    store.fail_after(0, mode="after")
    with pytest.raises(LogStoreIOError, match="after store_logs"):
        store.store_logs(logs(1, 4))
    assert store.last_index() == 4  # the caller was told it failed, yet the entries are there
    with pytest.raises(StoreFailedError):
        store.delete_range(1, 1)
    store.close()


def test_heal_disarms_a_pending_failure() -> None:
    store = FaultyStore(MemoryStore())
    store.fail_after(0)
    store.heal()
    store.store_logs(logs(1, 2))
    assert not store.failed
    with pytest.raises(ValueError):
        store.fail_after(-1)
    with pytest.raises(ValueError):
        store.fail_after(1, mode="during")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.set_sync_delay(-1)


def test_extra_backend_methods_pass_through(tmp_path: Path) -> None:
    with FaultyStore(WALStore(tmp_path / "wal", segment_size=64 << 10)) as store:
        store.store_logs(logs(1, 3))
        frames = store.get_encoded(1, 3)
        assert store.stats() == store.inner.stats()
    with FaultyStore(PyWALStore(tmp_path / "copy", segment_size=64 << 10)) as copy:
        copy.store_encoded(frames)
        assert copy.get_logs(1, 3) == logs(1, 3) and copy.writes == 1
