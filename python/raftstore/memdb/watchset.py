"""WatchSet: wait for any one of many watches to fire, from a thread (with a timeout) or from asyncio.

A blocking query reads through several indexes, collects the watch of each read, and sleeps until one of them
fires; then it re-runs the query in a *new* read transaction (a fired watch only says "something you read may have
changed"). Waiting subscribes one callback to every watch, so a set costs one event, not one thread per watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from raftstore.radix.watch import Watch


class WatchSet:
    """A set of radix ``Watch`` handles (duplicates collapse). ``wait(timeout)`` returns True when it TIMED OUT,
    as go-memdb's ``WatchSet.Watch``; ``await ws.wait_async(timeout)`` is the asyncio form."""

    __slots__ = ("_watches",)

    def __init__(self, watches: Iterable[Watch] = ()) -> None:
        self._watches: dict[Watch, None] = dict.fromkeys(watches)

    def add(self, watch: Watch | None) -> None:
        """Add a watch; None is ignored (a read that offers no watch, like a lower-bound scan)."""
        if watch is not None:
            self._watches[watch] = None

    def add_with_limit(self, soft_limit: int, watch: Watch | None, alt_watch: Watch | None) -> None:
        """Add ``watch`` while the set holds fewer than ``soft_limit`` watches, else the coarser ``alt_watch`` (for
        example the watch of a whole table): bounds the cost of waiting on a query that read many objects."""
        self.add(watch if len(self._watches) < soft_limit else alt_watch)

    def __len__(self) -> int:
        return len(self._watches)

    def __iter__(self) -> Iterator[Watch]:
        return iter(self._watches)

    def __contains__(self, watch: object) -> bool:
        return watch in self._watches

    def fired(self) -> bool:
        """Whether any watch of the set has fired; never blocks."""
        return any(w.fired for w in self._watches)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a watch fires (False) or ``timeout`` seconds pass (True: timed out). An empty set can only
        time out (with no timeout it would never return, so it raises ValueError instead)."""
        if not self._watches and timeout is None:
            raise ValueError("waiting without a timeout on an empty WatchSet would never return")
        event = threading.Event()
        subscribed = []
        try:
            for w in self._watches:
                if not w.subscribe(event.set):
                    return False  # already fired
                subscribed.append(w)
            return not event.wait(timeout)
        finally:
            for w in subscribed:
                w.unsubscribe(event.set)

    async def wait_async(self, timeout: float | None = None) -> bool:
        """The asyncio form of ``wait``: True when it timed out. Watches may fire from any thread."""
        if not self._watches and timeout is None:
            raise ValueError("waiting without a timeout on an empty WatchSet would never return")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:  # runs in the firing thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to wake
                loop.call_soon_threadsafe(_resolve, future)

        subscribed = []
        try:
            for w in self._watches:
                if not w.subscribe(wake):
                    return False
                subscribed.append(w)
            try:
                await asyncio.wait_for(asyncio.shield(future), timeout)
            except asyncio.TimeoutError:
                return True
            return False
        finally:
            for w in subscribed:
                w.unsubscribe(wake)
            if not future.done():
                future.cancel()

    def __await__(self) -> Generator[Any, None, bool]:
        """``await ws``: wait without a timeout; resolves to False (it did not time out)."""
        return self.wait_async(None).__await__()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
