"""LMDBStore: the log and stable store in an LMDB environment (the optional `lmdb` package), a benchmark peer.

LMDB is a copy-on-write B+tree like BoltDB (raft-boltdb's engine): each committed write transaction is durable
(two syncs: data pages, then the meta page), and deleted pages go to a freelist, never back to the file system.
"""

from __future__ import annotations

import importlib
import os
import struct
import threading
from collections.abc import Sequence
from typing import Any

from raftstore.logstore.base import StoreMixin
from raftstore.logstore.errors import CorruptionError, LogNotFoundError, LogStoreIOError, StoreClosedError
from raftstore.logstore.log import Log, LogType
from raftstore.logstore.rules import check_batch, classify_delete


def _optional_lmdb() -> Any:
    """The `lmdb` module, or None: it is optional (LMDBStore raises on construction without it). Imported by name so
    the type checker sees the same thing whether or not the package is installed."""
    try:
        return importlib.import_module("lmdb")
    except ImportError:
        return None


lmdb: Any = _optional_lmdb()

_TYPES = tuple(LogType)
_KEY = struct.Struct(">Q")  # big-endian, so LMDB's byte order is index order
_VALUE = struct.Struct("<QdBI")  # term, appended_at, type, extensions length; then extensions, data
# Stable-store keys carry a one-byte prefix: LMDB refuses empty keys, the protocol allows them.


class LMDBStore(StoreMixin):
    """`LMDBStore(directory, map_size=64 << 30, sync=True)`; `sync=False` skips the syncs (UNSAFE)."""

    def __init__(self, directory: str | os.PathLike[str], map_size: int = 64 << 30, sync: bool = True) -> None:
        if lmdb is None:
            raise ImportError("LMDBStore needs the optional `lmdb` package: pip install lmdb")
        self.directory = str(directory)
        self._lock = threading.Lock()
        try:
            self._env: Any = lmdb.open(self.directory, map_size=map_size, max_dbs=2, sync=sync, metasync=sync)
            self._logs = self._env.open_db(b"logs")
            self._stable = self._env.open_db(b"stable")
            with self._env.begin(db=self._logs) as txn:
                cur = txn.cursor()
                self._first = _KEY.unpack(cur.key())[0] if cur.first() else 0
                self._last = _KEY.unpack(cur.key())[0] if cur.last() else 0
        except lmdb.Error as exc:
            raise _error(exc, self.directory) from exc

    def _e(self) -> Any:
        if self._env is None:
            raise StoreClosedError(f"log store {self.directory} is closed")
        return self._env

    def close(self) -> None:
        with self._lock:
            if self._env is not None:
                self._env.close()
                self._env = None

    def first_index(self) -> int:
        self._e()
        return self._first

    def last_index(self) -> int:
        self._e()
        return self._last

    def is_monotonic(self) -> bool:
        return True

    def get_log(self, index: int) -> Log:
        if not 0 < index < 1 << 64:
            raise LogNotFoundError(f"log entry {index} not found")
        with self._e().begin(db=self._logs, buffers=True) as txn:
            raw = txn.get(_KEY.pack(index))
            if raw is None:
                raise LogNotFoundError(f"log entry {index} not found")
            return _decode(index, raw)

    def get_logs(self, lo: int, hi: int) -> list[Log]:
        if lo > hi:
            return []
        if lo < self._first or hi > self._last or lo <= 0:
            raise LogNotFoundError(f"log entries {lo}..{hi} not all present")
        out = []
        with self._e().begin(db=self._logs, buffers=True) as txn:
            cur = txn.cursor()
            if cur.set_key(_KEY.pack(lo)):
                for key, raw in cur:
                    index = _KEY.unpack(key)[0]
                    if index > hi:
                        break
                    out.append(_decode(index, raw))
        if len(out) != hi - lo + 1:
            raise LogNotFoundError(f"log entries {lo}..{hi} not all present")
        return out

    def store_log(self, log: Log) -> None:
        self.store_logs((log,))

    def store_logs(self, logs: Sequence[Log]) -> None:
        with self._lock:
            env = self._e()
            check_batch(logs, self._last)
            if not logs:
                return
            items = [
                (
                    _KEY.pack(x.index),
                    b"".join(
                        (
                            _VALUE.pack(x.term, float(x.appended_at), int(x.type), len(x.extensions)),
                            bytes(x.extensions),
                            bytes(x.data),
                        )
                    ),
                )
                for x in logs
            ]
            try:
                with env.begin(write=True, db=self._logs) as txn:
                    txn.cursor().putmulti(items, append=True)
            except lmdb.Error as exc:
                raise _error(exc, self.directory) from exc
            if not self._last:
                self._first = logs[0].index
            self._last = logs[-1].index

    def delete_range(self, lo: int, hi: int) -> None:
        with self._lock:
            env = self._e()
            kind = classify_delete(lo, hi, self._first, self._last)
            if kind == "none":
                return
            try:
                with env.begin(write=True, db=self._logs) as txn:
                    cur = txn.cursor()
                    if cur.set_range(_KEY.pack(max(lo, self._first))):
                        while _KEY.unpack(cur.key())[0] <= hi and cur.delete():
                            if not cur.key():
                                break
            except lmdb.Error as exc:
                raise _error(exc, self.directory) from exc
            if kind == "all":
                self._first = self._last = 0
            elif kind == "head":
                self._first = hi + 1
            else:
                self._last = lo - 1

    def set(self, key: bytes, value: bytes) -> None:
        with self._lock:
            try:
                with self._e().begin(write=True, db=self._stable) as txn:
                    txn.put(b"k" + bytes(key), bytes(value))
            except lmdb.Error as exc:
                raise _error(exc, self.directory) from exc

    def get(self, key: bytes) -> bytes | None:
        with self._e().begin(db=self._stable) as txn:
            raw = txn.get(b"k" + bytes(key))
        return None if raw is None else bytes(raw)


def _decode(index: int, raw: Any) -> Log:
    if len(raw) < _VALUE.size:
        raise CorruptionError(f"log entry {index}: value of {len(raw)} bytes is too short")
    term, at, t, ext_len = _VALUE.unpack_from(raw)
    if t >= len(_TYPES) or _VALUE.size + ext_len > len(raw):
        raise CorruptionError(f"log entry {index}: malformed value")
    ext = bytes(raw[_VALUE.size : _VALUE.size + ext_len])
    return Log(index, term, _TYPES[t], bytes(raw[_VALUE.size + ext_len :]), ext, at)


def _error(exc: Exception, path: str) -> Exception:
    if lmdb is not None and isinstance(exc, (lmdb.CorruptedError, lmdb.InvalidError, lmdb.PageNotFoundError)):
        return CorruptionError(f"{path}: {exc}")
    return LogStoreIOError(0, f"{path}: {exc}")
