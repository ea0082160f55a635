"""A slow or failing disk under any LogStore/StableStore: wrap the store, then inject faults at run time.

    store = FaultyStore(WALStore(path))
    store.set_sync_delay(0.05)          # every durable write (a batch, a delete, a stable-store set) takes 50 ms more
    store.fail_after(10)                # the 11th write from now raises LogStoreIOError(EIO)
    store.fail_after(0, mode="after")   # the next write reaches the store, *then* reports failure
    store.heal()                        # no delay, no failure armed (a store already failed stays failed)

Why it behaves like this:
- The delay is per durable write, because each backend syncs once per write call (`store_logs` is one fsync);
  reads are never slowed, as reads come from the page cache or memory maps.
- An injected failure leaves the wrapper *failed*: every later write raises `StoreFailedError` until the store is
  reopened (a new wrapper), exactly as the real backends do after an I/O error, since what reached the disk is
  unknown. Mode ``"before"`` fails without writing (the write never reached the disk), mode ``"after"`` performs
  the write and then fails (the data is on disk but the caller was told it is not): Raft must survive both.
- Errors are the layer's own (`LogStoreIOError`, a `LogStoreError`), so the code under test sees what a real disk
  failure looks like and nothing else.

Thread-safe: the Raft runtime writes from its thread while a fault schedule reconfigures from another.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from raftstore.logstore.errors import LogStoreIOError, StoreFailedError
from raftstore.logstore.log import Log

FailMode = Literal["before", "after"]
_T = TypeVar("_T")


class FaultyStore:
    """A LogStore and StableStore that forwards to `inner`, adding injected sync delays and write failures."""

    def __init__(self, inner: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self._sleep = sleep
        self._lock = threading.Lock()
        self._delay = 0.0
        self._fail_in: int | None = None
        self._fail_mode: FailMode = "before"
        self._failed = False
        self.writes = 0
        self.injected_failures = 0
        self.delayed_seconds = 0.0

    # ------------------------------------------------------------------------------------------ control

    def set_sync_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("delay must be non-negative")
        with self._lock:
            self._delay = seconds

    def fail_after(self, writes: int, mode: FailMode = "before") -> None:
        """Let `writes` more writes succeed, then fail the next one (`mode`: before or after it reaches the store)."""
        if writes < 0:
            raise ValueError("writes must be non-negative")
        if mode not in ("before", "after"):
            raise ValueError(f"mode must be 'before' or 'after', got {mode!r}")
        with self._lock:
            self._fail_in = writes
            self._fail_mode = mode

    def heal(self) -> None:
        """No more delay and no armed failure; a failure already injected stays (reopen to clear it)."""
        with self._lock:
            self._delay = 0.0
            self._fail_in = None

    @property
    def failed(self) -> bool:
        return self._failed

    # ------------------------------------------------------------------------------------------ the write path

    def _write(self, what: str, action: Callable[[], _T]) -> _T:
        with self._lock:
            if self._failed:
                raise StoreFailedError(f"an earlier write failed (injected): reopen the log ({what})")
            fail = self._fail_in == 0
            if self._fail_in is not None:
                self._fail_in -= 1
            if fail:
                self._failed = True
                self._fail_in = None
                self.injected_failures += 1
            mode, delay = self._fail_mode, self._delay
        if fail and mode == "before":
            raise LogStoreIOError(errno.EIO, f"injected I/O error before {what}")
        if delay:
            self._sleep(delay)
            with self._lock:
                self.delayed_seconds += delay
        result = action()
        with self._lock:
            self.writes += 1
        if fail:
            raise LogStoreIOError(errno.EIO, f"injected I/O error after {what} (the data may be on disk)")
        return result

    def store_log(self, log: Log) -> None:
        self._write(f"store_log({log.index})", lambda: self.inner.store_log(log))

    def store_logs(self, logs: Sequence[Log]) -> None:
        what = f"store_logs({logs[0].index}..{logs[-1].index})" if logs else "store_logs()"
        self._write(what, lambda: self.inner.store_logs(logs))

    def store_encoded(self, frames: bytes | bytearray | memoryview) -> None:
        self._write("store_encoded", lambda: self.inner.store_encoded(frames))

    def delete_range(self, lo: int, hi: int) -> None:
        self._write(f"delete_range({lo}, {hi})", lambda: self.inner.delete_range(lo, hi))

    def set(self, key: bytes, value: bytes) -> None:
        self._write(f"set({key!r})", lambda: self.inner.set(key, value))

    def set_uint64(self, key: bytes, value: int) -> None:
        self._write(f"set_uint64({key!r})", lambda: self.inner.set_uint64(key, value))

    # ------------------------------------------------------------------------------------------ reads, as they are

    def first_index(self) -> int:
        result: int = self.inner.first_index()
        return result

    def last_index(self) -> int:
        result: int = self.inner.last_index()
        return result

    def get_log(self, index: int) -> Log:
        result: Log = self.inner.get_log(index)
        return result

    def get_logs(self, lo: int, hi: int) -> list[Log]:
        result: list[Log] = self.inner.get_logs(lo, hi)
        return result

    def is_monotonic(self) -> bool:
        return bool(self.inner.is_monotonic())

    def get(self, key: bytes) -> bytes | None:
        result: bytes | None = self.inner.get(key)
        return result

    def get_uint64(self, key: bytes) -> int:
        result: int = self.inner.get_uint64(key)
        return result

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        """Anything else a backend offers (get_encoded, stats, directory) passes through unchanged."""
        return getattr(self.inner, name)

    def __enter__(self) -> FaultyStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
