"""Watch handles: one-shot notifications that a part of a radix tree has changed.

A watch is the Python counterpart of go-immutable-radix's ``mutateCh``: it is handed out by a tree for a key or a
prefix and *fires* (once, for good) when a transaction committed from that tree, or from a tree derived from it,
changes that key or anything under that prefix. As with a closed Go channel, firing is idempotent and a handle that
has fired stays fired; a handle may also fire spuriously (for instance when a node on its path is split, or for a
key's watch when a key extending it changes), never late.

Both tree implementations (the C ``Tree`` and the pure-Python ``PyTree``) create these objects lazily, only when a
watch is asked for, and fire them after the commit that changed the watched part has produced its new tree; so a
woken reader always sees the new state.

Waiting works from threads (``wait``) and from asyncio (``await watch``); the two can be mixed freely and the
firing thread need not be the waiter's.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Generator
from typing import Any

# One lock for every watch: the critical sections are a few attribute reads and writes, and a per-object lock would
# cost an allocation for each of the (usually never waited on) handles.
_lock = threading.Lock()


class Watch:
    """A one-shot notification handle; see the module docstring for when it fires."""

    __slots__ = ("__weakref__", "_callbacks", "_event", "_fired", "_futures")

    def __init__(self) -> None:
        self._fired = False
        # Created only when somebody actually blocks or awaits: most watches are checked with ``fired`` or never.
        self._event: threading.Event | None = None
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] | None = None
        # Callables run (once, in the firing thread) when the watch fires: how a set of watches (memdb's WatchSet)
        # waits on all of them with one event instead of one thread per watch.
        self._callbacks: list[Callable[[], object]] | None = None

    @property
    def fired(self) -> bool:
        """Whether the watched part has changed; never blocks."""
        return self._fired

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the watch fires or ``timeout`` seconds pass; return whether it fired."""
        with _lock:
            if self._fired:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def __await__(self) -> Generator[Any, None, bool]:
        """Await the watch from asyncio; resolves to True once it has fired (use asyncio.wait_for for a timeout)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with _lock:
            if self._fired:
                future.set_result(True)
            else:
                if self._futures is None:
                    self._futures = []
                self._futures.append((loop, future))
        return (yield from future.__await__())

    def subscribe(self, callback: Callable[[], object]) -> bool:
        """Arrange for ``callback()`` to run once when the watch fires, in the firing thread (keep it short and
        non-blocking). Returns False, without registering it, when the watch has already fired."""
        with _lock:
            if self._fired:
                return False
            if self._callbacks is None:
                self._callbacks = []
            self._callbacks.append(callback)
            return True

    def unsubscribe(self, callback: Callable[[], object]) -> None:
        """Withdraw a callback given to ``subscribe`` (no-op when it is not registered, or has run)."""
        with _lock:
            if self._callbacks is not None:
                with contextlib.suppress(ValueError):
                    self._callbacks.remove(callback)

    def _fire(self) -> None:
        """Mark the watch fired and wake every waiter. Idempotent; called by the trees after a commit."""
        with _lock:
            if self._fired:
                return
            self._fired = True
            event, futures, callbacks = self._event, self._futures, self._callbacks
            self._futures = self._callbacks = None
        if event is not None:
            event.set()
        if callbacks:
            for callback in callbacks:
                callback()
        if futures:
            for loop, future in futures:
                # RuntimeError: the waiter's loop has been closed, so nobody is left to wake.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, future)

    def __repr__(self) -> str:
        return f"<Watch fired={self._fired}>"


def _resolve(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)
