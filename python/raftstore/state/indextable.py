"""The `index` table: the Raft index of the last write to each table (or sub-key), and the max-index helpers.

Why a table of its own: tables without tombstones would otherwise report an index that goes *backwards* when their
newest rows are deleted, and a blocking query waiting for "index > N" would never wake (Consul's schema.go).
Invariant: normal applies only ever raise an entry (Raft indexes grow); restore uses `update_max`.
"""

from __future__ import annotations

from typing import Any

from raftstore.memdb import Txn, WatchSet
from raftstore.state.schema import INDEX


def set_index(tx: Txn, key: str, index: int) -> None:
    """Record that `key` was written at `index` (Consul's `indexUpdateMaxTxn` semantics: never lowers it)."""
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
