"""Durable Raft log stores behind hashicorp/raft's LogStore and StableStore protocols.

Backends (each is both the LogStore and the StableStore of its files, and a context manager):
  WALStore(directory, segment_size=64 << 20, sync=True)   the segmented WAL in C (csrc/wal.c), the default
  PyWALStore(directory, segment_size=64 << 20, sync=True) the same files, in pure Python (the reference)
  MemoryStore()                                           in process memory
  SQLiteStore(path)                                       stdlib sqlite3, journal_mode=WAL, synchronous=FULL
  LMDBStore(directory)                                    the optional `lmdb` package
Every error is a LogStoreError (CorruptionError for damaged files).
"""

from raftstore.logstore.errors import (
    CorruptionError,
    InvalidEntryError,
    LogNotFoundError,
    LogStoreError,
    LogStoreIOError,
    NonContiguousError,
    StoreClosedError,
    StoreFailedError,
    StoreLockedError,
)
from raftstore.logstore.lmdbstore import LMDBStore
from raftstore.logstore.log import Log, LogType
from raftstore.logstore.memory import MemoryStore
from raftstore.logstore.protocols import LogStore, StableStore
from raftstore.logstore.pywal import PyWALStore
from raftstore.logstore.sqlite import SQLiteStore
from raftstore.logstore.wal import WALStore

__all__ = [
    "CorruptionError",
    "InvalidEntryError",
    "LMDBStore",
    "Log",
    "LogNotFoundError",
    "LogStore",
    "LogStoreError",
    "LogStoreIOError",
    "LogType",
    "MemoryStore",
    "NonContiguousError",
    "PyWALStore",
    "SQLiteStore",
    "StableStore",
    "StoreClosedError",
    "StoreFailedError",
    "StoreLockedError",
    "WALStore",
]
