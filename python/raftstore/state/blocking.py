"""Consul's blocking-query loop (agent/consul/rpc.go blockingQuery) over the state store's watches.

`query(store, ws)` runs a read, adds the watches of what it read to `ws` and returns (index, result). With
`min_index` 0 it runs once; otherwise it re-runs each time a watch fires until the index passes `min_index` or
`timeout` seconds pass (then the current, unchanged result is returned). `get_store` is called on every run, so a
restore that swaps in a new store (firing the old one's abandon watch) is followed onto the new store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from raftstore.memdb import WatchSet
from raftstore.state.store import StateStore

T = TypeVar("T")


def blocking_query(
    get_store: Callable[[], StateStore],
    query: Callable[[StateStore, WatchSet], tuple[int, T]],
    min_index: int = 0,
    timeout: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, T]:
    deadline = clock() + timeout
    while True:
        ws = WatchSet()
        index, result = query(get_store(), ws)
        index = max(index, 1)  # Consul: an index of 0 would make clients spin; never report below 1
        if min_index == 0 or index > min_index:
            return index, result
        remaining = deadline - clock()
        if remaining <= 0 or ws.wait(remaining):
            return index, result
