"""Reads: consistency modes, blocking queries and the response metadata headers, as Consul's HTTP layer does.

Consistency (``?stale``, ``?consistent``, default "leader"):
- default: served by the leader from its state (leader lease). A follower raises `NotLeaderError` through
  `verify_leader` and the request is forwarded to the leader.
- ``consistent``: `verify_leader` before every run (a quorum round on Raft), then served locally.
- ``stale``: served by any server; with ``max_stale`` a server whose last contact is older defers to the leader.

Blocking (``?index=N[&wait=D]``): the query re-runs each time one of the watches it read fires, until its index
passes N or the wait times out; the wait defaults to 5 minutes, is clamped to 10, and gets up to wait/16 of random
jitter so that many clients woken together do not come back together (Consul's blockingQuery). The state store is
read again on every run; a snapshot restore (which fires the old store's abandon watch) answers at once with the
restored state, since the client's index belongs to a history that is gone. Agent shutdown wakes every waiting
query, which then answers with what it has.

`X-Consul-Index` is never below 1, including on 404 answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from raftstore.agent.api import params
from raftstore.agent.api.keys import core_of
from raftstore.agent.errors import InvalidRequest, NoPathToDatacenter
from raftstore.memdb import WatchSet
from raftstore.state import StateStore

T = TypeVar("T")

Query = Callable[[StateStore, WatchSet | None], tuple[int, T]]


@dataclass(frozen=True)
class QueryOptions:
    consistency: str  # "leader" (default), "consistent" or "stale"
    min_index: int
    wait: float | None
    max_stale: float | None
    pretty: bool


def check_datacenter(request: web.Request) -> None:
    """raftstore runs one datacenter: ``?dc=`` naming another is refused as Consul refuses an unknown one."""
    dc = request.query.get("dc", "")
    if dc and dc != core_of(request).backend.datacenter:
        raise NoPathToDatacenter(dc)


def query_options(request: web.Request) -> QueryOptions:
    query = request.query
    check_datacenter(request)
    stale, consistent = params.flag(query, "stale"), params.flag(query, "consistent")
    if stale and consistent:
        raise InvalidRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
    index = params.uint(query, "index", "index") or 0
    wait = params.duration(query, "wait", "wait time")
    max_stale = params.duration(query, "max_stale", "max_stale")
    return QueryOptions(
        consistency="stale" if stale else "consistent" if consistent else "leader",
        min_index=index,
        wait=wait,
        max_stale=max_stale,
        pretty=params.flag(query, "pretty"),
    )


async def ensure_consistency(request: web.Request, opts: QueryOptions) -> None:
    """Raise NotLeaderError (to forward) / NoLeaderError when this server may not answer in this mode."""
    backend = core_of(request).backend
    if opts.consistency == "consistent" or (
        (
            opts.consistency == "leader"
            or (opts.max_stale is not None and backend.last_contact_ms() > opts.max_stale * 1000)
        )
        and not backend.is_leader()
    ):
        await backend.verify_leader()


def meta_headers(request: web.Request, index: int, opts: QueryOptions) -> dict[str, str]:
    backend = core_of(request).backend
    return {
        "X-Consul-Index": str(max(index, 1)),
        "X-Consul-KnownLeader": "true" if backend.known_leader() else "false",
        "X-Consul-LastContact": str(0 if backend.is_leader() else backend.last_contact_ms()),
        "X-Consul-Effective-Consistency": opts.consistency,
    }


def query_timeout(request: web.Request, opts: QueryOptions) -> float:
    config = core_of(request).config
    timeout = opts.wait if opts.wait else config.default_query_time
    timeout = min(timeout, config.max_query_time)
    return timeout + random.uniform(0, timeout / 16)


async def run_read(request: web.Request, query: Query[T], *, blocking: bool = True) -> tuple[int, T, dict[str, str]]:
    """Run `query` under the request's consistency mode and blocking parameters; (index, result, headers)."""
    opts = query_options(request)
    core = core_of(request)
    backend = core.backend
    await ensure_consistency(request, opts)
    if not blocking or opts.min_index == 0:
        index, result = query(backend.state, None)
        return index, result, meta_headers(request, index, opts)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + query_timeout(request, opts)
    closing = core.closing
    first_store = backend.state
    while True:
        if opts.consistency == "consistent":
            await backend.verify_leader()
        ws = WatchSet()
        store = backend.state
        index, result = query(store, ws)
        remaining = deadline - loop.time()
        # A restore swapped the store: the client's index belongs to a history that is gone (the new one may
        # never pass it), so answer now and let it start again from the index it gets.
        restored = store is not first_store
        if max(index, 1) > opts.min_index or remaining <= 0 or restored or (closing is not None and closing.is_set()):
            return index, result, meta_headers(request, index, opts)
        if await _wait(ws, remaining, closing):
            index, result = query(backend.state, None)
            return index, result, meta_headers(request, index, opts)


async def _wait(ws: WatchSet, timeout: float, closing: asyncio.Event | None) -> bool:
    """Wait for a watch of `ws`, the timeout or shutdown; True when the query should stop waiting."""
    if closing is None:
        return await ws.wait_async(timeout)
    watch = asyncio.ensure_future(ws.wait_async(timeout))
    stop = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait({watch, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watch, stop):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return stop in done or watch.result()
