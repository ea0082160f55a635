"""The `index` table: the Raft index of the last write to each table (or sub-key), and the max-index helpers.

Why a table of its own: tables without tombstones would otherwise report an index that goes *backwards* when their
newest rows are deleted, and a blocking query waiting for "index > N" would never wake (Consul's schema.go).
Invariant: normal applies only ever raise an entry (Raft indexes grow); restore uses `update_max`.
"""

from __future__ import annotations

from typing import Any

from raftstore.memdb import Txn, WatchSet
from raftstore.state.schema import INDEX

_deferred: dict[Txn, dict[str, int]] = {}
"""Write transactions whose index-table updates are collected and written once, by `flush_deferred`, instead of
once per command: a batch of 64 KV sets then costs one index write, not 64. Only for transactions whose commands
never *read* the index table before the flush (the FSM's batches of KV and tombstone commands)."""


def defer_updates(tx: Txn) -> None:
    _deferred[tx] = {}


def flush_deferred(tx: Txn) -> None:
    """Write the collected updates (call before commit); a no-op for a transaction that was not deferring."""
    pending = _deferred.pop(tx, None)
    for key, index in (pending or {}).items():
        set_index(tx, key, index)


def discard_deferred(tx: Txn) -> None:
    _deferred.pop(tx, None)


def set_index(tx: Txn, key: str, index: int) -> None:
    """Record that `key` was written at `index` (Consul's `indexUpdateMaxTxn` semantics: never lowers it)."""
    pending = _deferred.get(tx)
    if pending is not None:
        if index > pending.get(key, 0):
            pending[key] = index
        return
    existing = tx.first(INDEX, "id", key)
    if existing is not None and existing["Value"] >= index:
        return
    tx.insert(INDEX, {"Key": key, "Value": index})


def max_index(tx: Txn, *keys: str, ws: WatchSet | None = None) -> int:
    """The largest index recorded for any of `keys` (0 if none); adds each entry's watch to `ws`."""
    best = 0
    for key in keys:
        if ws is not None:
            watch, entry = tx.first_watch(INDEX, "id", key)
            ws.add(watch)
        else:
            entry = tx.first(INDEX, "id", key)
        if entry is not None and entry["Value"] > best:
            best = entry["Value"]
    return best


def all_entries(tx: Txn) -> list[dict[str, Any]]:
    return list(tx.get(INDEX, "id"))
