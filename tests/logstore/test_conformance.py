"""One conformance suite, run against every backend (see conftest.py): the LogStore and StableStore contract."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from raftstore.logstore import (
    InvalidEntryError,
    LogNotFoundError,
    LogStore,
    LogStoreError,
    NonContiguousError,
    StableStore,
    StoreClosedError,
)
from raftstore.logstore.log import Log, LogType


def check_content(store: Any, expected: list[Log]) -> None:
    """Every read form agrees with `expected` (a contiguous run of entries)."""
    if not expected:
        assert store.first_index() == 0
        assert store.last_index() == 0
        return
    assert store.first_index() == expected[0].index
    assert store.last_index() == expected[-1].index
    for log in expected:
        assert store.get_log(log.index) == log
    assert store.get_logs(expected[0].index, expected[-1].index) == expected
    with pytest.raises(LogNotFoundError):
        store.get_log(expected[0].index - 1)
    with pytest.raises(LogNotFoundError):
        store.get_log(expected[-1].index + 1)


def test_protocols(backend: Any, open_store: Callable[..., Any]) -> None:
    s = open_store(backend)
    assert isinstance(s, LogStore)
    assert isinstance(s, StableStore)
    assert s.is_monotonic() is True


def test_empty_store(backend: Any, open_store: Callable[..., Any]) -> None:
    s = open_store(backend)
    assert (s.first_index(), s.last_index()) == (0, 0)
    for index in (0, 1, 2**40):
        with pytest.raises(LogNotFoundError):
            s.get_log(index)
    with pytest.raises(LogNotFoundError):
        s.get_logs(1, 1)
    assert s.get_logs(5, 4) == []
    s.delete_range(1, 100)  # nothing to delete: a no-op
    s.store_logs([])
    assert (s.first_index(), s.last_index()) == (0, 0)
    assert s.get(b"CurrentTerm") is None
    assert s.get_uint64(b"CurrentTerm") == 0


def test_ordering_and_reads(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    logs = make_logs(1, 700, size=200)
    s.store_log(logs[0])
    pos = 1
    for size in (1, 2, 64, 5, 300, 327):
        s.store_logs(logs[pos : pos + size])
        pos += size
    assert pos == 700
    check_content(s, logs)
    assert s.get_logs(100, 163) == logs[99:163]
    assert s.get_logs(700, 700) == [logs[-1]]
    with pytest.raises(LogNotFoundError):
        s.get_logs(650, 701)
    log = s.get_log(6)  # make_logs: type cycles COMMAND, NOOP, BARRIER, CONFIGURATION by index % 4
    assert type(log) is Log and log.type is LogType.BARRIER and isinstance(log.data, bytes)


def test_an_empty_log_starts_anywhere(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    s.store_logs(make_logs(1000, 1009))
    check_content(s, make_logs(1000, 1009))


def test_gaps_and_rewinds_refused(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    logs = make_logs(1, 10)
    s.store_logs(logs)
    for bad in (
        make_logs(12, 12),
        make_logs(10, 12),
        make_logs(5, 6),
        make_logs(1, 1),
        make_logs(11, 11) + make_logs(13, 13),
    ):
        with pytest.raises(NonContiguousError):
            s.store_logs(bad)
    with pytest.raises(InvalidEntryError):
        s.store_log(Log(11, 1, type=99))  # type: ignore[arg-type]
    check_content(s, logs)  # a refused batch left nothing behind
    s.store_logs(make_logs(11, 12))
    check_content(s, make_logs(1, 12))


def test_index_zero_refused(backend: Any, open_store: Callable[..., Any]) -> None:
    s = open_store(backend)
    with pytest.raises(InvalidEntryError):
        s.store_log(Log(0, 1))
    assert s.last_index() == 0


def test_head_truncation(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    logs = make_logs(1, 3000, size=300)  # ~1 MB: several WAL segments
    for i in range(0, 3000, 100):
        s.store_logs(logs[i : i + 100])
    s.delete_range(0, 50)  # lo below first is fine: a prefix
    check_content(s, logs[50:])
    s.delete_range(51, 2500)
    check_content(s, logs[2500:])
    s.delete_range(1, 10)  # already gone: no-op
    check_content(s, logs[2500:])
    more = make_logs(3001, 3100, size=300)
    s.store_logs(more)
    check_content(s, logs[2500:] + more)


def test_tail_truncation_then_new_term(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    logs = make_logs(1, 3000, size=300)
    for i in range(0, 3000, 250):
        s.store_logs(logs[i : i + 250])
    s.delete_range(2900, 5000)  # Raft's conflict case: the suffix goes
    check_content(s, logs[:2899])
    replacement = make_logs(2900, 2950, term=2)
    s.store_logs(replacement)
    check_content(s, logs[:2899] + replacement)
    s.delete_range(100, 2950)  # across many segments
    check_content(s, logs[:99])
    s.store_logs(make_logs(100, 100, term=3))
    check_content(s, logs[:99] + make_logs(100, 100, term=3))


def test_delete_everything_and_middle(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    s.store_logs(make_logs(1, 500))
    with pytest.raises(NonContiguousError):
        s.delete_range(10, 20)  # a hole in the middle would break contiguity
    check_content(s, make_logs(1, 500))
    s.delete_range(1, 500)
    check_content(s, [])
    s.store_logs(make_logs(9000, 9010))  # after a snapshot restore the log restarts anywhere
    check_content(s, make_logs(9000, 9010))


def test_persistence_across_reopen(durable_backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(durable_backend)
    logs = make_logs(1, 2000, size=500)
    for i in range(0, 2000, 100):
        s.store_logs(logs[i : i + 100])
    s.delete_range(1, 300)
    s.delete_range(1900, 2000)
    s.set_uint64(b"CurrentTerm", 7)
    s.set(b"LastVoteCand", b"node-2")
    s.close()
    s = open_store(durable_backend)
    check_content(s, logs[300:1899])
    assert s.get_uint64(b"CurrentTerm") == 7
    assert s.get(b"LastVoteCand") == b"node-2"
    s.store_logs(make_logs(1900, 1910, term=2))
    s.close()
    s = open_store(durable_backend)
    check_content(s, logs[300:1899] + make_logs(1900, 1910, term=2))


def test_stable_store(backend: Any, open_store: Callable[..., Any]) -> None:
    s = open_store(backend)
    s.set(b"k", b"v1")
    s.set(b"k", b"v2")
    s.set(b"\x00bin\xff", b"")
    s.set_uint64(b"CurrentTerm", 2**64 - 1)
    s.set_uint64(b"LastVoteTerm", 0)
    assert s.get(b"k") == b"v2"
    assert s.get(b"\x00bin\xff") == b""
    assert s.get_uint64(b"CurrentTerm") == 2**64 - 1
    assert s.get_uint64(b"LastVoteTerm") == 0
    assert s.get(b"CurrentTerm") == (2**64 - 1).to_bytes(8, "big")
    with pytest.raises(InvalidEntryError):
        s.set_uint64(b"x", -1)
    with pytest.raises(InvalidEntryError):
        s.set_uint64(b"x", 2**64)
    with pytest.raises(LogStoreError):
        s.get_uint64(b"k")  # not 8 bytes


def test_closed_store_refuses(backend: Any, open_store: Callable[..., Any], make_logs: Any) -> None:
    s = open_store(backend)
    s.store_logs(make_logs(1, 3))
    s.close()
    s.close()  # idempotent
    for call in (lambda: s.get_log(1), lambda: s.store_logs(make_logs(4, 4)), s.last_index, lambda: s.get(b"k")):
        with pytest.raises(StoreClosedError):
            call()


def test_context_manager(durable_backend: Any, tmp_path: Any, make_logs: Any) -> None:
    with durable_backend.open(tmp_path) as s:
        s.store_logs(make_logs(1, 5))
    with durable_backend.open(tmp_path) as s:
        assert s.last_index() == 5


@pytest.mark.slow
def test_single_64mib_entry(backend: Any, open_store: Callable[..., Any]) -> None:
    s = open_store(backend, **({} if backend.name == "memory" else {"sync": False}))
    big = os.urandom(1 << 16) * 1024  # 64 MiB
    s.store_logs([Log(1, 1, data=b"small")])
    s.store_log(Log(2, 1, data=big, extensions=b"e"))
    s.store_log(Log(3, 1, data=b"after"))
    got = s.get_log(2)
    assert len(got.data) == len(big) and got.data == big and got.extensions == b"e"
    assert [x.data for x in s.get_logs(1, 3)] == [b"small", big, b"after"]
    if backend.durable:
        s.close()
        s = open_store(backend, sync=False)
        assert s.get_log(2).data == big
        assert s.get_log(3).data == b"after"


# 10 million tiny entries: the C WAL, SQLite, LMDB and memory store all of them in the default run. The pure-Python
# WAL computes every CRC-32C in Python (~2 us per tiny entry, twice), so 10M would take minutes: it stores 1M.
TEN_MILLION = {"pywal": 1_000_000}
TINY_BATCH = 100_000


@pytest.mark.slow
def test_ten_million_tiny_entries(backend: Any, open_store: Callable[..., Any]) -> None:
    n = TEN_MILLION.get(backend.name, 10_000_000)
    kw: dict[str, Any] = {} if backend.name == "memory" else {"sync": False}
    if backend.name in ("wal", "pywal"):
        kw["segment_size"] = 64 << 20
    s = open_store(backend, **kw)
    started = time.monotonic()
    tiny = b"x"
    for lo in range(1, n + 1, TINY_BATCH):
        s.store_logs(
            [Log(i, 1 + i // 1_000_000, LogType.COMMAND, tiny) for i in range(lo, min(lo + TINY_BATCH, n + 1))]
        )
    assert (s.first_index(), s.last_index()) == (1, n)
    for i in (1, 2, n // 3, n // 2 + 7, n - 1, n):
        assert s.get_log(i) == Log(i, 1 + i // 1_000_000, LogType.COMMAND, tiny)
    batch = s.get_logs(n - 999, n)
    assert [x.index for x in batch] == list(range(n - 999, n + 1))
    s.delete_range(1, n - 1000)  # head truncation of all but the last 1000
    assert (s.first_index(), s.last_index()) == (n - 999, n)
    if backend.durable:
        s.close()
        s = open_store(backend, **kw)
        assert (s.first_index(), s.last_index()) == (n - 999, n)
        assert s.get_log(n).data == tiny
    print(f"{backend.name}: {n:,} tiny entries in {time.monotonic() - started:.1f}s")
