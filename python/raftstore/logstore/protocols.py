"""The storage protocols the Raft core talks to, after hashicorp/raft's LogStore, MonotonicLogStore and StableStore.

Every backend (WALStore, PyWALStore, MemoryStore, SQLiteStore, LMDBStore) implements both, is a context manager,
and raises only `LogStoreError` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from raftstore.logstore.log import Log


@runtime_checkable
class LogStore(Protocol):
    """An append-only sequence of Raft entries with contiguous indexes.

    Invariants every backend enforces: indexes are contiguous (`store_logs` must continue at `last_index() + 1`, any
    index >= 1 when the store is empty); a delete may only remove a prefix, a suffix or everything; a batch stored by
    `store_logs` is either entirely durable when the call returns or (after a crash during the call) entirely absent.
    """

    def first_index(self) -> int:
        """The first stored index, 0 when empty."""
        ...

    def last_index(self) -> int:
        """The last stored index, 0 when empty."""
        ...

    def get_log(self, index: int) -> Log:
        """The entry at `index`; LogNotFoundError when there is none."""
        ...

    def get_logs(self, lo: int, hi: int) -> list[Log]:
        """Entries lo..hi inclusive (a replication batch); LogNotFoundError when any of them is missing."""
        ...

    def store_log(self, log: Log) -> None:
        """Appends one entry (durably)."""
        ...

    def store_logs(self, logs: Sequence[Log]) -> None:
        """Appends a batch atomically and durably (one sync)."""
        ...

    def delete_range(self, lo: int, hi: int) -> None:
        """Deletes lo..hi inclusive: a prefix (compaction), a suffix (conflict) or everything."""
        ...

    def is_monotonic(self) -> bool:
        """True: after a snapshot restore the Raft core must delete all logs rather than leave a gap."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class StableStore(Protocol):
    """Small durable key-value pairs (current term, last vote); each set is durable when it returns."""

    def set(self, key: bytes, value: bytes) -> None: ...

    def get(self, key: bytes) -> bytes | None:
        """The value, or None when the key was never set."""
        ...

    def set_uint64(self, key: bytes, value: int) -> None: ...

    def get_uint64(self, key: bytes) -> int:
        """The value, or 0 when the key was never set (like hashicorp/raft-wal)."""
        ...
