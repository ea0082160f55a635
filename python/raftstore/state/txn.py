"""Consul's transactions (state/txn.go): up to 128 KV operations applied atomically, with Consul's verbs, results
and error texts. Any error rolls back the whole transaction (the caller aborts the memdb transaction).

Node, service and check operations support get, set, cas, delete and delete-cas over the catalog; session
operations support delete. Intention operations (legacy) are refused with an error naming them.
"""

from __future__ import annotations

from typing import Any

from raftstore.memdb import Txn
from raftstore.state import kvs
from raftstore.state import txn_catalog as catalog_ops
from raftstore.state.errors import InvalidRequestError
from raftstore.state.records import DirEntry
from raftstore.state.schema import SESSIONS
from raftstore.state.sessions import LockDelays, session_destroy

MAX_TXN_OPS = 128


class TxnAborted(Exception):
    """Raised to roll back a transaction; carries Consul's `[{OpIndex, What}]` errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _strip(entry: DirEntry) -> dict[str, Any]:
    record = entry.to_record()
    record["Value"] = None
    return record


def _kv_op(tx: Txn, idx: int, op: dict[str, Any]) -> list[dict[str, Any]]:
    verb = op.get("Verb")
    entry = DirEntry.from_record(op.get("DirEnt"), "KV.DirEnt")
    key = entry.Key
    if verb == "set":
        kvs.kvs_set(tx, idx, entry)
    elif verb == "delete":
        kvs.kvs_delete(tx, idx, key)
        return []
    elif verb == "delete-cas":
        if not kvs.kvs_delete_cas(tx, idx, entry.ModifyIndex, key):
            raise InvalidRequestError(f"failed to delete key {key!r}, index is stale")
        return []
    elif verb == "delete-tree":
        kvs.kvs_delete_tree(tx, idx, key)
        return []
    elif verb == "cas":
        if not kvs.kvs_cas(tx, idx, entry):
            raise InvalidRequestError(f"failed to set key {key!r}, index is stale")
    elif verb == "lock":
        if not kvs.kvs_lock(tx, idx, entry):
            raise InvalidRequestError(f"failed to lock key {key!r}, lock is already held")
    elif verb == "unlock":
        if not kvs.kvs_unlock(tx, idx, entry):
            raise InvalidRequestError(f"failed to unlock key {key!r}, lock isn't held, or is held by another session")
    elif verb in ("get", "get-or-empty"):
        _, found = kvs.kvs_get(tx, key)
        if found is None:
            if verb == "get":
                raise InvalidRequestError(f"key {key!r} doesn't exist")
            return [DirEntry(Key=key).to_record()]
        return [found.to_record()]
    elif verb == "get-tree":
        return [e.to_record() for e in kvs.kvs_list(tx, key)[1]]
    elif verb == "check-index":
        _, found = kvs.kvs_get(tx, key)
        if found is None:
            raise InvalidRequestError(f"key {key!r} doesn't exist")
        if found.ModifyIndex != entry.ModifyIndex:
            raise InvalidRequestError(f"current modify index {found.ModifyIndex} != {entry.ModifyIndex}")
        return [_strip(found)]
    elif verb == "check-session":
        _, found = kvs.kvs_get(tx, key)
        if found is None:
            raise InvalidRequestError(f"key {key!r} doesn't exist")
        if found.Session != entry.Session:
            raise InvalidRequestError(f"current session {found.Session!r} != {entry.Session!r}")
        return [_strip(found)]
    elif verb == "check-not-exists":
        if kvs.kvs_get(tx, key)[1] is not None:
            raise InvalidRequestError(f"key {key!r} exists")
        return []
    else:
        raise InvalidRequestError(f"unknown KV verb {verb!r}")
    _, written = kvs.kvs_get(tx, key)
    return [_strip(written)] if written is not None else []


def txn_rw(tx: Txn, idx: int, ops: Any, delays: LockDelays | None = None) -> list[dict[str, Any]]:
    """Apply `ops` (Consul's TxnOps) in `tx`; returns the results or raises TxnAborted with every error. `delays`
    receives the lock-delays of sessions the transaction invalidates."""
    if not isinstance(ops, list):
        raise InvalidRequestError("Txn Ops must be a list")
    if len(ops) > MAX_TXN_OPS:
        raise InvalidRequestError(f"Transaction contains too many operations ({len(ops)} > {MAX_TXN_OPS})")
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for number, op in enumerate(ops):
        try:
            if not isinstance(op, dict):
                raise InvalidRequestError("each op must be a map")
            if op.get("KV"):
                if not isinstance(op["KV"], dict):
                    raise InvalidRequestError("KV op must be a map")
                results.extend({"KV": r} for r in _kv_op(tx, idx, op["KV"]))
            elif op.get("Session") and isinstance(op["Session"], dict) and op["Session"].get("Verb") == "delete":
                session_id = (op["Session"].get("Session") or {}).get("ID", "")
                if tx.first(SESSIONS, "id", session_id) is None:
                    raise InvalidRequestError(f"session {session_id!r} doesn't exist")
                session_destroy(tx, idx, session_id, delays)
            elif op.get("Node") and isinstance(op["Node"], dict):
                results.extend(catalog_ops.node_op(tx, idx, op["Node"], delays))
            elif op.get("Service") and isinstance(op["Service"], dict):
                results.extend(catalog_ops.service_op(tx, idx, op["Service"], delays))
            elif op.get("Check") and isinstance(op["Check"], dict):
                results.extend(catalog_ops.check_op(tx, idx, op["Check"], delays))
            else:
                kind = next((k for k in ("Session", "Intention") if op.get(k)), "unknown")
                raise InvalidRequestError(f"{kind} operations are not supported in transactions")
        except InvalidRequestError as error:
            errors.append({"OpIndex": number, "What": str(error)})
            break  # Consul stops at the first failing op; later ops would run against rolled-back state
    if errors:
        raise TxnAborted(errors)
    return results
