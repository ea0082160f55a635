"""The log store layer's benchmark material, shared by `raftstore bench` and benchmarks/bench_logstore.py
(pytest-benchmark): the backends behind one adapter (WALStore in C, its encoded-batch path, PyWALStore, SQLiteStore,
LMDBStore, MemoryStore), the physical floor of a durable append as a peer, and the `raftstore bench` workloads, so
both harnesses time exactly the same code.

The floor writes the very bytes the WAL writes for a batch (its entry frames and commit frame) to a plain file with
one fdatasync per batch, in two ways:
  appended        the file grows with each batch (on ext4 each fdatasync also commits the size change)
  preallocated    a file zero-filled beforehand (untimed) is overwritten in place: only data blocks are synced
No encoding, no checksum, no index: what the disk costs, measured the same way as every backend.

In `raftstore bench` each backend keeps one durable store for the whole run, living like a Raft log in steady state.
Per round, in this order: durable appends at batch 1, 64 and 1024 (each batch one `store_logs`, one sync where the
store syncs); then the store is brought to exactly N entries (untimed: filled, or its head cut), read (random
`get_log`, `get_logs` of 64), and its head truncated back to its last 64 entries (`delete_range`, durable). The
next round starts from those 64 entries.
The files live under ``$RAFTSTORE_BENCH_DIR`` (default: the system's temporary directory): point it at the disk
you mean to measure.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftstore.bench.harness import BackendSpec, Context, Unavailable, Workload, call_factory
from raftstore.logstore import LMDBStore, Log, MemoryStore, PyWALStore, SQLiteStore, WALStore
from raftstore.logstore._wal import encode_logs

COMMIT_FRAME = 16
ZERO_CHUNK = 1 << 20
ENTRY_BYTES = 128
FILL_BATCH = 10_000  # entries per store_logs when filling a store untimed
KEEP = 64  # entries the head truncation leaves (a Raft log keeps a trailing window after a snapshot)
LMDB_HINT = "the optional lmdb package is not installed: `pip install lmdb`"
SEGMENT_SIZE = 64 << 20  # the WAL's segment size: the stores' default (tests shrink it to spare the disk)


class FileFloor:
    """A plain file written batch by batch, one fdatasync each (see the module docstring)."""

    def __init__(self, path: Path, preallocate: int = 0, sync: bool = True) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.sync = sync
        self.offset = 0
        if preallocate:
            zeros = bytes(ZERO_CHUNK)
            for off in range(0, preallocate, ZERO_CHUNK):
                os.pwrite(self.fd, zeros, off)
            os.fsync(self.fd)

    def append(self, data: bytes) -> None:
        os.pwrite(self.fd, data, self.offset)
        self.offset += len(data)
        if self.sync:
            os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class LogBackend:
    """One backend as the benchmarks use it: append a prepared batch, read, truncate.

    `factory` makes a user's own `LogStore` (a plugin): it is called with a fresh directory of its own when it takes
    an argument, with none otherwise.
    """

    floors = ("floor (appended)", "floor (preallocated)")
    encoded = "WALStore (encoded batch)"  # store_encoded: a follower appending the leader's frames (encode once)
    names = ("WALStore", encoded, "PyWALStore", "SQLiteStore", "LMDBStore", "MemoryStore", *floors)

    def __init__(
        self,
        name: str,
        where: Path,
        sync: bool = True,
        room: int = 0,
        factory: Callable[..., Any] | None = None,
    ) -> None:
        self.name = name
        self.where = where
        self.sync = sync
        self.room = room  # bytes the floor (preallocated) zero-fills ahead
        self.factory = factory
        self.store: Any = None
        self.floor: FileFloor | None = None
        self.open()

    @property
    def is_floor(self) -> bool:
        return self.factory is None and self.name in self.floors  # a plugin is a store, whatever its name

    def prepare(self, batch: Sequence[Log]) -> bytes:
        """The bytes `append` takes for this backend (untimed): the WAL's bytes for a floor, the entry frames for
        the encoded-batch path, nothing for the others."""
        if self.is_floor:
            return wal_bytes(batch)
        if self.name == self.encoded and self.factory is None:
            return encode_logs(batch)
        return b""

    def open(self) -> None:
        self.where.mkdir(parents=True, exist_ok=True)
        n = self.name
        if self.factory is not None:
            self.store = call_factory(self.factory, self.where / "store")
        elif n in ("WALStore", self.encoded):
            self.store = WALStore(self.where / "wal", segment_size=SEGMENT_SIZE, sync=self.sync)
        elif n == "PyWALStore":
            self.store = PyWALStore(self.where / "pywal", segment_size=SEGMENT_SIZE, sync=self.sync)
        elif n == "SQLiteStore":
            self.store = SQLiteStore(self.where / "log.sqlite", sync=self.sync)
        elif n == "LMDBStore":
            self.store = LMDBStore(self.where / "lmdb", sync=self.sync)
        elif n == "MemoryStore":
            self.store = MemoryStore()
        elif n in self.floors:
            self.reopen_floor(self.room)
        else:
            raise ValueError(f"unknown log store backend {n!r}; known: {', '.join(self.names)}")

    def reopen_floor(self, room: int) -> None:
        """A new floor file (preallocating `room` bytes for the preallocated floor, untimed)."""
        if self.floor is not None:
            self.floor.close()
        pre = room if self.name == "floor (preallocated)" else 0
        self.floor = FileFloor(self.where / "floor.bin", preallocate=pre, sync=self.sync)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.floor is not None:
            self.floor.close()

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.where, ignore_errors=True)

    def settle(self, timeout: float = 120.0, payload: bytes | None = None) -> None:
        """Brings a WAL to its steady state before timing: the tail segment exists and the next one is already
        zero-filled by the background thread (which otherwise competes for the disk during the first 64 MiB only;
        its cost is 64 MiB of extra writes per 64 MiB of log, reported in the README)."""
        if self.name not in ("WALStore", self.encoded) or self.factory is not None:
            return
        if self.store.last_index() == 0:
            self.store.store_logs(make_batches(1, 1, 1, ENTRY_BYTES, payload=payload)[0])
        deadline = time.monotonic() + timeout
        while not self.store.stats()["spare_ready"]:
            if time.monotonic() > deadline:
                raise TimeoutError("the WAL's spare segment was not ready in time")
            time.sleep(0.01)

    def append(self, batch: Sequence[Log], raw: bytes) -> None:
        """The timed unit: one durable batch (Log objects for the stores, the WAL's bytes for the floor)."""
        if self.floor is not None:
            self.floor.append(raw)
        elif raw:
            self.store.store_encoded(raw)
        else:
            self.store.store_logs(batch)

    def count(self) -> int:
        """Entries stored."""
        last = int(self.store.last_index())
        return last - int(self.store.first_index()) + 1 if last else 0

    def resize_to(self, n: int, payload: bytes) -> None:
        """Makes the store hold exactly n entries (untimed): appends in batches of FILL_BATCH, or truncates the head
        when the appends of the round went past n, so every backend reads and truncates the same amount."""
        count = self.count()
        if count > n:
            first = int(self.store.first_index())
            self.store.delete_range(first, first + count - n - 1)
            return
        first = self.store.last_index() + 1
        for lo in range(first, first + n - count, FILL_BATCH):
            hi = min(lo + FILL_BATCH, first + n - count)
            self.store.store_logs([Log(i, 1, data=payload) for i in range(lo, hi)])


def wal_bytes(batch: Sequence[Log]) -> bytes:
    """What the WAL writes for the batch: its entry frames and a 16-byte commit frame."""
    return encode_logs(batch) + bytes(COMMIT_FRAME)


def make_batches(
    first: int, count: int, size: int, entry_bytes: int, term: int = 1, payload: bytes | None = None
) -> list[list[Log]]:
    payload = os.urandom(entry_bytes) if payload is None else payload
    out, index = [], first
    for _ in range(count):
        out.append([Log(i, term, data=payload) for i in range(index, index + size)])
        index += size
    return out


# ------------------------------------------------------------------------------------------------- `raftstore bench`

APPEND_SIZES = (1, 64, 1024)
BUILT_IN = LogBackend.names  # the backends every run compares (tests narrow it when they look at a plugin only)


@dataclass(frozen=True)
class Sizes:
    """How much each sample does. The full run is smaller than bench_logstore.py's defaults (N = 1M) to fit, with
    every other layer, in 15 minutes; its appends stay below N so every store is read at the same size."""

    n: int  # entries a store holds when it is read and truncated
    pywal_n: int  # the same for PyWALStore (its CRC-32C is pure Python)
    batches: dict[int, int]  # batch size -> batches per append sample
    lookups: int  # get_log calls per sample
    ranges: int  # get_logs(lo, lo + 63) calls per sample


QUICK = Sizes(n=5_000, pywal_n=5_000, batches={1: 30, 64: 15, 1024: 4}, lookups=5_000, ranges=200)
FULL = Sizes(n=200_000, pywal_n=50_000, batches={1: 200, 64: 100, 1024: 10}, lookups=100_000, ranges=2_000)


@dataclass
class Dataset:
    sizes: Sizes
    root: Path  # the run's directory; removed by LogstoreLayer.close
    payload: bytes
    lookup_offsets: dict[int, list[int]] = field(default_factory=dict)  # n -> offsets into a store of n entries
    range_offsets: dict[int, list[int]] = field(default_factory=dict)  # n -> offsets of 64-entry ranges


def make_dataset(sizes: Sizes, root: Path) -> Dataset:
    rng = random.Random(20261126)
    data = Dataset(sizes, root, rng.randbytes(ENTRY_BYTES))
    for n in {sizes.n, sizes.pywal_n}:
        data.lookup_offsets[n] = [rng.randrange(n) for _ in range(sizes.lookups)]
        data.range_offsets[n] = [rng.randrange(n - KEEP + 1) for _ in range(sizes.ranges)]
    return data


class _Sized:
    """A backend and the N it is read and truncated at (PyWALStore runs at a smaller N in the full run)."""

    def __init__(self, backend: LogBackend, n: int) -> None:
        self.backend = backend
        self.bench_n = n


def _append_workload(size: int) -> Workload:
    def prepare(ctx: Context) -> None:
        sized: _Sized = ctx.backend
        b, data = sized.backend, ctx.data
        count = data.sizes.batches[size]
        if not b.is_floor:
            b.settle(payload=data.payload)  # may append entry 1 to an empty WAL: before the batches are numbered
        first = 1 if b.is_floor else b.store.last_index() + 1
        batches = make_batches(first, count, size, ENTRY_BYTES, payload=data.payload)
        raws = [b.prepare(batch) for batch in batches]
        if b.is_floor:
            b.reopen_floor(sum(len(raw) for raw in raws))
        # The disk starts every backend's appends idle: otherwise the write-back of what the previous backend wrote
        # (its fill, its truncation) lands on this one's syncs, always the same one under a fixed round order.
        os.sync()
        ctx.scratch["batches"], ctx.scratch["raws"] = batches, raws

    def run(ctx: Context) -> int:
        batches, raws = ctx.scratch["batches"], ctx.scratch["raws"]
        append = ctx.backend.backend.append
        for batch, raw in zip(batches, raws, strict=True):
            append(batch, raw)
        return size * len(batches)

    def check(ctx: Context) -> None:
        b: LogBackend = ctx.backend.backend
        batches = ctx.scratch.pop("batches")
        ctx.scratch.pop("raws")
        if b.is_floor:
            return
        last = batches[-1][-1].index
        assert b.store.last_index() == last, f"append at batch {size}: last_index is not {last}"
        got = b.store.get_log(last)
        assert (got.index, got.data) == (last, ctx.data.payload), f"append at batch {size}: wrong entry read back"

    return Workload(f"durable append, batch={size}", run, prepare=prepare, check=check, unit="entries")


def _stores_only(sized: _Sized) -> str | None:
    b = sized.backend
    if b.is_floor:
        return "a plain file has no index: appends only"
    if b.name == LogBackend.encoded and b.factory is None:
        return "reads as WALStore (the same store)"
    return None


def _filled(ctx: Context) -> int:
    """Brings the store to exactly its N entries (untimed); returns its first index."""
    sized: _Sized = ctx.backend
    sized.backend.resize_to(sized.bench_n, ctx.data.payload)
    return int(sized.backend.store.first_index())


def _prepare_get_log(ctx: Context) -> None:
    first = _filled(ctx)
    ctx.scratch["probes"] = [first + off for off in ctx.data.lookup_offsets[ctx.backend.bench_n]]


def _run_get_log(ctx: Context) -> int:
    get = ctx.backend.backend.store.get_log
    probes = ctx.scratch["probes"]
    ctx.scratch["got"] = [get(i) for i in probes]
    return len(probes)


def _check_get_log(ctx: Context) -> None:
    got, probes = ctx.scratch.pop("got"), ctx.scratch.pop("probes")
    assert [log.index for log in got] == probes, "get_log returned the wrong entries"
    assert all(log.data == ctx.data.payload for log in got), "get_log returned wrong data"


def _prepare_get_logs(ctx: Context) -> None:
    first = _filled(ctx)
    ctx.scratch["starts"] = [first + off for off in ctx.data.range_offsets[ctx.backend.bench_n]]


def _run_get_logs(ctx: Context) -> int:
    get_logs = ctx.backend.backend.store.get_logs
    starts = ctx.scratch["starts"]
    ctx.scratch["ranges"] = [get_logs(lo, lo + KEEP - 1) for lo in starts]
    return KEEP * len(starts)


def _check_get_logs(ctx: Context) -> None:
    ranges, starts = ctx.scratch.pop("ranges"), ctx.scratch.pop("starts")
    for lo, logs in zip(starts, ranges, strict=True):
        assert [log.index for log in logs] == list(range(lo, lo + KEEP)), f"get_logs({lo}, {lo + KEEP - 1}) is wrong"


def _prepare_truncation(ctx: Context) -> None:
    first = _filled(ctx)
    ctx.scratch["truncate"] = (first, int(ctx.backend.backend.store.last_index()) - KEEP)


def _run_truncation(ctx: Context) -> int:
    lo, hi = ctx.scratch["truncate"]
    ctx.backend.backend.store.delete_range(lo, hi)
    return int(hi - lo + 1)


def _check_truncation(ctx: Context) -> None:
    store = ctx.backend.backend.store
    _, hi = ctx.scratch.pop("truncate")
    assert (store.first_index(), store.last_index()) == (hi + 1, hi + KEEP), "head truncation left the wrong entries"
    assert store.get_log(hi + 1).index == hi + 1, "head truncation lost the entries it had to keep"


class LogstoreLayer:
    """The log store layer for `raftstore bench`: the WAL (C and Python), SQLite, LMDB and memory stores, and the
    plain file's fsync floor, all durable (sync on) except MemoryStore."""

    name = "logstore"
    default_baseline = "SQLiteStore"

    def __init__(self) -> None:
        self._sizes = FULL
        self._created: list[LogBackend] = []

    def prepare(self, quick: bool) -> Dataset:
        self._sizes = QUICK if quick else FULL
        base = os.environ.get("RAFTSTORE_BENCH_DIR") or None
        root = Path(tempfile.mkdtemp(prefix="raftstore-bench-logstore-", dir=base))
        return make_dataset(self._sizes, root)

    def parameters(self, data: Dataset) -> dict[str, Any]:
        s = data.sizes
        return {
            "n": s.n,
            "pywal_n": s.pywal_n,
            "entry_bytes": ENTRY_BYTES,
            "append_batches": ", ".join(f"{count}x{size}" for size, count in s.batches.items()),
            "lookups": s.lookups,
            "ranges_of_64": s.ranges,
            "truncation_keeps": KEEP,
            "directory": str(data.root.parent),
        }

    def workloads(self) -> list[Workload]:
        return [
            *(_append_workload(size) for size in APPEND_SIZES),
            Workload(
                "random get_log",
                _run_get_log,
                prepare=_prepare_get_log,
                applies=_stores_only,
                check=_check_get_log,
                unit="entries",
            ),
            Workload(
                "get_logs of 64",
                _run_get_logs,
                prepare=_prepare_get_logs,
                applies=_stores_only,
                check=_check_get_logs,
                unit="entries",
            ),
            Workload(
                "head truncation",
                _run_truncation,
                prepare=_prepare_truncation,
                applies=_stores_only,
                check=_check_truncation,
                unit="entries",
            ),
        ]

    def _spec(self, name: str, factory: Callable[..., Any] | None = None, origin: str = "built-in") -> BackendSpec:
        def create(data: Dataset) -> _Sized:
            where = data.root / f"{len(self._created)}-{name.replace(' ', '_').replace('/', '_')}"
            try:
                backend = LogBackend(name, where, sync=True, factory=factory)
            except ImportError as error:
                if name == "LMDBStore":
                    raise Unavailable(LMDB_HINT) from None
                raise Unavailable(f"{name} cannot be imported: {error}") from None
            self._created.append(backend)
            return _Sized(backend, data.sizes.pywal_n if name == "PyWALStore" else data.sizes.n)

        return BackendSpec(name, create, origin)

    def backends(self) -> list[BackendSpec]:
        return [self._spec(name) for name in BUILT_IN]

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A user's `LogStore` (raftstore.logstore.LogStore's protocol): a class or factory called with a fresh
        directory (or with no argument when it takes none)."""
        return self._spec(name, implementation, origin="plugin")

    def close(self, data: Dataset) -> None:
        """Closes every store and removes the run's directory."""
        for backend in self._created:
            with contextlib.suppress(Exception):  # a plugin failing to close must not keep the files around
                backend.close()
        self._created.clear()
        shutil.rmtree(data.root, ignore_errors=True)
