"""The physical floor of a durable log append, and the backends of benchmarks/bench_logstore.py behind one API.

The floor writes the very bytes the WAL writes for a batch (its entry frames and commit frame) to a plain file with
one fdatasync per batch, in two ways:
  appended        the file grows with each batch (on ext4 each fdatasync also commits the size change)
  preallocated    a file zero-filled beforehand (untimed) is overwritten in place: only data blocks are synced
No encoding, no checksum, no index: what the disk costs, measured the same way as every backend.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raftstore.logstore import LMDBStore, Log, MemoryStore, PyWALStore, SQLiteStore, WALStore
from raftstore.logstore._wal import encode_logs

COMMIT_FRAME = 16
ZERO_CHUNK = 1 << 20


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


class Bench:
    """One backend as the benchmarks use it: append a prepared batch, read, truncate."""

    floors = ("floor (appended)", "floor (preallocated)")
    encoded = "WALStore (encoded batch)"  # store_encoded: a follower appending the leader's frames (encode once)
    names = ("WALStore", encoded, "PyWALStore", "SQLiteStore", "LMDBStore", "MemoryStore", *floors)

    def __init__(self, name: str, where: Path, sync: bool = True, room: int = 0) -> None:
        self.name = name
        self.where = where
        self.sync = sync
        self.room = room  # bytes the floor (preallocated) zero-fills ahead
        self.store: Any = None
        self.floor: FileFloor | None = None
        self.open()

    @property
    def is_floor(self) -> bool:
        return self.name in self.floors

    def prepare(self, batch: Sequence[Log]) -> bytes:
        """The bytes `append` takes for this backend (untimed): the WAL's bytes for a floor, the entry frames for
        the encoded-batch path, nothing for the others."""
        if self.is_floor:
            return wal_bytes(batch)
        if self.name == self.encoded:
            return encode_logs(batch)
        return b""

    def open(self) -> None:
        self.where.mkdir(parents=True, exist_ok=True)
        n = self.name
        if n in ("WALStore", self.encoded):
            self.store = WALStore(self.where / "wal", sync=self.sync)
        elif n == "PyWALStore":
            self.store = PyWALStore(self.where / "pywal", sync=self.sync)
        elif n == "SQLiteStore":
            self.store = SQLiteStore(self.where / "log.sqlite", sync=self.sync)
        elif n == "LMDBStore":
            self.store = LMDBStore(self.where / "lmdb", sync=self.sync)
        elif n == "MemoryStore":
            self.store = MemoryStore()
        else:
            pre = self.room if n == "floor (preallocated)" else 0
            self.floor = FileFloor(self.where / "floor.bin", preallocate=pre, sync=self.sync)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.floor is not None:
            self.floor.close()

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.where, ignore_errors=True)

    def settle(self, timeout: float = 120.0) -> None:
        """Brings a WAL to its steady state before timing: the tail segment exists and the next one is already
        zero-filled by the background thread (which otherwise competes for the disk during the first 64 MiB only;
        its cost is 64 MiB of extra writes per 64 MiB of log, reported in the README)."""
        if self.name not in ("WALStore", self.encoded):
            return
        if self.store.last_index() == 0:
            self.store.store_logs(make_batches(1, 1, 1, 128)[0])
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


def wal_bytes(batch: Sequence[Log]) -> bytes:
    """What the WAL writes for the batch: its entry frames and a 16-byte commit frame."""
    return encode_logs(batch) + bytes(COMMIT_FRAME)


def make_batches(first: int, count: int, size: int, entry_bytes: int, term: int = 1) -> list[list[Log]]:
    payload = os.urandom(entry_bytes)
    out, index = [], first
    for _ in range(count):
        out.append([Log(i, term, data=payload) for i in range(index, index + size)])
        index += size
    return out
