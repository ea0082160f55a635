"""SQLiteStore: the log and stable store in one SQLite database (stdlib sqlite3), a well-known peer for benchmarks.

Durability settings are the honest ones for a Raft log: journal_mode=WAL with synchronous=FULL, so every committed
batch is fsynced before store_logs returns (one transaction per batch).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence

from raftstore.logstore.base import StoreMixin
from raftstore.logstore.errors import CorruptionError, LogNotFoundError, LogStoreIOError, StoreClosedError
from raftstore.logstore.log import Log, LogType
from raftstore.logstore.rules import check_batch, classify_delete

_TYPES = tuple(LogType)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL,
    data BLOB NOT NULL, ext BLOB NOT NULL, appended_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stable (key BLOB PRIMARY KEY, value BLOB NOT NULL);
"""


class SQLiteStore(StoreMixin):
    """`SQLiteStore(path, sync=True)`: `sync=False` sets synchronous=OFF (UNSAFE; benchmarks and tests only).

    Indexes are stored as SQLite's signed 64-bit integers, so the largest storable index is 2**63 - 1.
    """

    def __init__(self, path: str | os.PathLike[str], sync: bool = True) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if sync else 'OFF'}")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT MIN(idx), MAX(idx), COUNT(*) FROM logs").fetchone()
        except sqlite3.DatabaseError as exc:
            raise _error(exc, self.path) from exc
        self._first, self._last = (row[0] or 0), (row[1] or 0)
        if row[2] and row[2] != self._last - self._first + 1:
            raise CorruptionError(f"{self.path}: log {self._first}..{self._last} has gaps ({row[2]} rows)")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreClosedError(f"log store {self.path} is closed")
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def first_index(self) -> int:
        self._conn()
        return self._first

    def last_index(self) -> int:
        self._conn()
        return self._last

    def is_monotonic(self) -> bool:
        return True

    def get_log(self, index: int) -> Log:
        with self._lock:
            try:
                row = self._conn().execute("SELECT * FROM logs WHERE idx = ?", (index,)).fetchone()
            except (sqlite3.DatabaseError, OverflowError) as exc:
                raise _error(exc, self.path) from exc
        if row is None:
            raise LogNotFoundError(f"log entry {index} not found")
        return _log(row)

    def get_logs(self, lo: int, hi: int) -> list[Log]:
        if lo > hi:
            return []
        with self._lock:
            try:
                rows = self._conn().execute("SELECT * FROM logs WHERE idx BETWEEN ? AND ? ORDER BY idx", (lo, hi))
                out = [_log(r) for r in rows]
            except (sqlite3.DatabaseError, OverflowError) as exc:
                raise _error(exc, self.path) from exc
        if len(out) != hi - lo + 1:
            raise LogNotFoundError(f"log entries {lo}..{hi} not all present")
        return out

    def store_log(self, log: Log) -> None:
        self.store_logs((log,))

    def store_logs(self, logs: Sequence[Log]) -> None:
        with self._lock:
            db = self._conn()
            check_batch(logs, self._last)
            if not logs:
                return
            rows = [
                (x.index, x.term, int(x.type), bytes(x.data), bytes(x.extensions), float(x.appended_at)) for x in logs
            ]
            try:
                db.execute("BEGIN")
                try:
                    db.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?)", rows)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except (sqlite3.DatabaseError, OverflowError) as exc:
                raise _error(exc, self.path) from exc
            if not self._last:
                self._first = logs[0].index
            self._last = logs[-1].index

    def delete_range(self, lo: int, hi: int) -> None:
        with self._lock:
            db = self._conn()
            kind = classify_delete(lo, hi, self._first, self._last)
            if kind == "none":
                return
            try:
                db.execute("DELETE FROM logs WHERE idx BETWEEN ? AND ?", (max(lo, self._first), min(hi, self._last)))
            except sqlite3.DatabaseError as exc:
                raise _error(exc, self.path) from exc
            if kind == "all":
                self._first = self._last = 0
            elif kind == "head":
                self._first = hi + 1
            else:
                self._last = lo - 1

    def set(self, key: bytes, value: bytes) -> None:
        with self._lock:
            try:
                self._conn().execute("INSERT OR REPLACE INTO stable VALUES (?, ?)", (bytes(key), bytes(value)))
            except sqlite3.DatabaseError as exc:
                raise _error(exc, self.path) from exc

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            try:
                row = self._conn().execute("SELECT value FROM stable WHERE key = ?", (bytes(key),)).fetchone()
            except sqlite3.DatabaseError as exc:
                raise _error(exc, self.path) from exc
        return None if row is None else bytes(row[0])


def _log(row: tuple[int, int, int, bytes, bytes, float]) -> Log:
    idx, term, t, data, ext, at = row
    if not 0 <= t < len(_TYPES):
        raise CorruptionError(f"log entry {idx} has the unknown type {t}")
    return Log(idx, term, _TYPES[t], bytes(data), bytes(ext), at)


def _error(exc: Exception, path: str) -> Exception:
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in str(exc) or "not a database" in str(exc)):
        return CorruptionError(f"{path}: {exc}")
    return LogStoreIOError(0, f"{path}: {exc}")
