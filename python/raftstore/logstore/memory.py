"""MemoryStore: the log and stable store in process memory, for tests, simulations and as a benchmark ceiling.

Same rules as the durable stores (contiguous indexes, head/tail/all deletes only, the same errors), nothing durable.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from raftstore.logstore.base import StoreMixin
from raftstore.logstore.errors import LogNotFoundError, StoreClosedError
from raftstore.logstore.log import Log
from raftstore.logstore.rules import check_batch, classify_delete


class MemoryStore(StoreMixin):
    """Entries in a list (entry i at position i - first), stable values in a dict; copies in, copies out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: list[Log] = []
        self._first = 0
        self._kv: dict[bytes, bytes] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("memory log store is closed")

    def close(self) -> None:
        self._closed = True

    def first_index(self) -> int:
        self._check_open()
        return self._first if self._logs else 0

    def last_index(self) -> int:
        self._check_open()
        return self._first + len(self._logs) - 1 if self._logs else 0

    def is_monotonic(self) -> bool:
        return True

    def get_log(self, index: int) -> Log:
        self._check_open()
        pos = index - self._first
        if not self._logs or not 0 <= pos < len(self._logs):
            raise LogNotFoundError(f"log entry {index} not found")
        return _copy(self._logs[pos])

    def get_logs(self, lo: int, hi: int) -> list[Log]:
        self._check_open()
        if lo > hi:
            return []
        if not self._logs or lo < self._first or hi > self._first + len(self._logs) - 1:
            raise LogNotFoundError(f"log entries {lo}..{hi} not all present")
        return [_copy(x) for x in self._logs[lo - self._first : hi - self._first + 1]]

    def store_log(self, log: Log) -> None:
        self.store_logs((log,))

    def store_logs(self, logs: Sequence[Log]) -> None:
        with self._lock:
            self._check_open()
            check_batch(logs, self.last_index())
            if logs:
                if not self._logs:
                    self._first = logs[0].index
                self._logs.extend(_copy(x) for x in logs)

    def delete_range(self, lo: int, hi: int) -> None:
        with self._lock:
            self._check_open()
            kind = classify_delete(lo, hi, self.first_index(), self.last_index())
            if kind == "all":
                self._logs = []
                self._first = 0
            elif kind == "head":
                del self._logs[: hi + 1 - self._first]
                self._first = hi + 1
            elif kind == "tail":
                del self._logs[lo - self._first :]

    def set(self, key: bytes, value: bytes) -> None:
        self._check_open()
        self._kv[bytes(key)] = bytes(value)

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._kv.get(bytes(key))


def _copy(log: Log) -> Log:
    return Log(log.index, log.term, log.type, bytes(log.data), bytes(log.extensions), log.appended_at)


__all__ = ["MemoryStore"]
