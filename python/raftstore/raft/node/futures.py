"""Futures the node hands to callers: usable from any thread (`result(timeout)`) and awaitable in any event loop.

Why `concurrent.futures.Future`: the node's loop runs in its own thread, while callers are plain threads (an
embedding application) or another event loop (the HTTP server); a concurrent future is the one type both can wait
on safely. `await`ing one wraps it for the awaiting loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Generator
from typing import Any


class RaftFuture(concurrent.futures.Future[Any]):
    """hashicorp's Future: `result()` is the response (or raises the error). `index` is the log index the request
    was committed at, when it has one (apply, barrier, membership changes)."""

    index: int = 0

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self).__await__()

    def fail(self, error: BaseException) -> None:
        """Set `error` unless the future is already done (a request can be failed by several paths at once)."""
        if not self.done():
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                self.set_exception(error)

    def resolve(self, value: Any = None) -> None:
        if not self.done():
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                self.set_result(value)


def failed(error: BaseException) -> RaftFuture:
    future = RaftFuture()
    future.set_exception(error)
    return future
