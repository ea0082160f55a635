"""Consul's KV semantics (kvs.go, graveyard.go) as functions over a memdb write transaction.

Each write function checks everything it needs *before* touching the transaction, so a refused request leaves the
transaction exactly as it found it (the FSM may share one transaction across a batch of log entries).
"""

from __future__ import annotations

from raftstore.memdb import Txn, WatchSet
from raftstore.state.errors import InvalidRequestError
from raftstore.state.indextable import max_index, set_index
from raftstore.state.records import DirEntry
from raftstore.state.schema import KVS, SESSIONS, TOMBSTONES


def _bump(tx: Txn, idx: int) -> None:
    set_index(tx, KVS, idx)


def insert_tombstone(tx: Txn, key: str, idx: int) -> None:
    """Graveyard.InsertTxn: remember that `key` (or a whole prefix) was deleted at `idx`, so list indexes never go
    backwards; reaped later by a TombstoneRequest."""
    tx.insert(TOMBSTONES, DirEntry(Key=key, ModifyIndex=idx))
    set_index(tx, TOMBSTONES, idx)


def kvs_set(tx: Txn, idx: int, entry: DirEntry, update_session: bool = False, owned: bool = False) -> None:
    """kvsSetTxn: CreateIndex kept from an existing entry, Session kept unless `update_session`; a set that
    changes nothing is skipped so ModifyIndex (and blocking queries) do not move. `owned`: the caller hands
    `entry` over (it is stored as is, and must not be used again), saving a copy on the FSM's hot path."""
    existing: DirEntry | None = tx.first(KVS, "id", entry.Key)
    new = entry if owned else entry.copy()
    if existing is not None:
        new.CreateIndex = existing.CreateIndex
        if not update_session:
            new.Session = existing.Session
        new.ModifyIndex = existing.ModifyIndex
        if existing.same_content(new):
            return
    else:
        new.CreateIndex = idx
        if not update_session:
            new.Session = ""
    new.ModifyIndex = idx
    tx.insert(KVS, new)
    _bump(tx, idx)


def kvs_cas(tx: Txn, idx: int, entry: DirEntry) -> bool:
    """Check-and-set: ModifyIndex 0 creates only; otherwise it must equal the existing ModifyIndex."""
    existing: DirEntry | None = tx.first(KVS, "id", entry.Key)
    if entry.ModifyIndex == 0 and existing is not None:
        return False
    if entry.ModifyIndex != 0 and (existing is None or existing.ModifyIndex != entry.ModifyIndex):
        return False
    kvs_set(tx, idx, entry)
    return True


def kvs_delete(tx: Txn, idx: int, key: str) -> None:
    existing = tx.first(KVS, "id", key)
    if existing is None:
        return
    insert_tombstone(tx, key, idx)
    tx.delete(KVS, existing)
    _bump(tx, idx)


def kvs_delete_cas(tx: Txn, idx: int, cas_index: int, key: str) -> bool:
    existing: DirEntry | None = tx.first(KVS, "id", key)
    if existing is None:
        return True  # Consul: nothing to delete counts as success
    if existing.ModifyIndex != cas_index:
        return False
    kvs_delete(tx, idx, key)
    return True


def kvs_delete_tree(tx: Txn, idx: int, prefix: str) -> None:
    """Delete every key under `prefix`, leaving ONE tombstone for the prefix (none for the root prefix "")."""
    if not tx.delete_prefix(KVS, "id_prefix", prefix):
        return
    if prefix:
        insert_tombstone(tx, prefix, idx)
    _bump(tx, idx)


def kvs_lock(tx: Txn, idx: int, entry: DirEntry) -> bool:
    """Acquire: the session must exist; same holder keeps LockIndex, another holder fails, a free key gets
    LockIndex+1 (1 for a new key)."""
    if not entry.Session:
        raise InvalidRequestError("missing session")
    if tx.first(SESSIONS, "id", entry.Session) is None:
        raise InvalidRequestError(f"invalid session {entry.Session!r}")
    existing: DirEntry | None = tx.first(KVS, "id", entry.Key)
    new = entry.copy()
    if existing is not None:
        if existing.Session == entry.Session:
            new.LockIndex = existing.LockIndex
        elif existing.Session:
            return False
        else:
            new.LockIndex = existing.LockIndex + 1
        new.CreateIndex = existing.CreateIndex
    else:
        new.LockIndex = 1
        new.CreateIndex = idx
    new.ModifyIndex = idx
    tx.insert(KVS, new)
    _bump(tx, idx)
    return True


def kvs_unlock(tx: Txn, idx: int, entry: DirEntry) -> bool:
    """Release: only the holding session may release; clears Session, keeps LockIndex."""
    if not entry.Session:
        raise InvalidRequestError("missing session")
    existing: DirEntry | None = tx.first(KVS, "id", entry.Key)
    if existing is None or existing.Session != entry.Session:
        return False
    new = entry.copy()
    new.Session = ""
    new.LockIndex = existing.LockIndex
    new.CreateIndex = existing.CreateIndex
    new.ModifyIndex = idx
    tx.insert(KVS, new)
    _bump(tx, idx)
    return True


def reap_tombstones(tx: Txn, idx: int, reap_index: int) -> None:
    """Delete every tombstone with index <= reap_index (Consul scans the whole table too)."""
    doomed = [stone for stone in tx.get(TOMBSTONES, "id") if stone.ModifyIndex <= reap_index]
    for stone in doomed:
        tx.delete(TOMBSTONES, stone)
    if doomed:
        set_index(tx, TOMBSTONES, idx)


# ---------------------------------------------------------------------------------------------------- reads


def kvs_get(tx: Txn, key: str, ws: WatchSet | None = None) -> tuple[int, DirEntry | None]:
    """The entry and its ModifyIndex, or (max of kvs and tombstones, None) when absent."""
    if ws is not None:
        watch, entry = tx.first_watch(KVS, "id", key)
        ws.add(watch)
    else:
        entry = tx.first(KVS, "id", key)
    if entry is not None:
        return entry.ModifyIndex, entry
    return max_index(tx, KVS, TOMBSTONES), None


def kvs_list(tx: Txn, prefix: str, ws: WatchSet | None = None) -> tuple[int, list[DirEntry]]:
    """Entries under `prefix` and the index Consul reports: the max ModifyIndex of those entries and of the
    tombstones under the prefix, or the tables' max when the prefix is "" or that gives 0."""
    if ws is not None:
        watch, it = tx.get_watch(KVS, "id_prefix", prefix)
        ws.add(watch)
        stone_watch, stones = tx.get_watch(TOMBSTONES, "id_prefix", prefix)
        ws.add(stone_watch)
    else:
        it = tx.get(KVS, "id_prefix", prefix)
        stones = tx.get(TOMBSTONES, "id_prefix", prefix)
    entries = list(it)
    lindex = max((e.ModifyIndex for e in entries), default=0)
    lindex = max(lindex, max((s.ModifyIndex for s in stones), default=0))
    if lindex == 0 or prefix == "":
        return max_index(tx, KVS, TOMBSTONES), entries
    return lindex, entries


def kvs_list_keys(tx: Txn, prefix: str, separator: str, ws: WatchSet | None = None) -> tuple[int, list[str]]:
    """Keys under `prefix`, rolled up at the first `separator` after the prefix ("a/b/" for "a/b/c" with "/")."""
    index, entries = kvs_list(tx, prefix, ws)
    keys: list[str] = []
    last = None
    plen = len(prefix)
    for entry in entries:
        key = entry.Key
        if separator:
            at = key.find(separator, plen)
            if at >= 0:
                key = key[: at + len(separator)]
        if key != last:
            keys.append(key)
            last = key
    return index, keys
