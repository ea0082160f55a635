"""Consul's classic state-store schema (v1.0 `stateStoreSchema`) on raftstore.memdb, with both indexer styles.

Struct-field indexers (`StringFieldIndex`, `CompoundIndex`) serve the catalog and sessions, as in Consul's classic
schema; the KV and tombstone primary keys use the function style (`SingleFuncIndex`, Consul's `indexer.go`) because
KV keys are case-sensitive, may be empty, and a prefix lookup takes the raw key bytes with no terminator.
"""

from __future__ import annotations

from typing import Any

from raftstore.memdb import (
    CompoundIndex,
    ConditionalIndex,
    DBSchema,
    IndexSchema,
    SingleFuncIndex,
    StringFieldIndex,
    StringMapFieldIndex,
    TableSchema,
)

INDEX = "index"
KVS = "kvs"
TOMBSTONES = "tombstones"
NODES = "nodes"
SERVICES = "services"
CHECKS = "checks"
SESSIONS = "sessions"
SESSION_CHECKS = "session_checks"
AUTOPILOT = "autopilot-config"

TABLES = (INDEX, NODES, SERVICES, CHECKS, KVS, TOMBSTONES, SESSIONS, SESSION_CHECKS, AUTOPILOT)


def _key_bytes(key: str) -> bytes:
    # surrogateescape: a key that arrived as non-UTF-8 raw bytes keeps its exact bytes (and ordering). Plain
    # encode() first: it is CPython's fast path, and only a key holding escaped bytes raises and takes the slow one.
    try:
        return key.encode()
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogateescape")


def _kv_key(obj: Any) -> bytes:
    return _key_bytes(obj.Key) + b"\x00"


def _kv_arg(key: str) -> bytes:
    return _key_bytes(key) + b"\x00"


def _kv_prefix(prefix: str) -> bytes:
    return _key_bytes(prefix)


def _session_of(obj: Any) -> bytes | None:
    return (_key_bytes(obj.Session) + b"\x00") if obj.Session else None


def _session_id(obj: Any) -> bytes:
    return _key_bytes(obj["ID"].lower()) + b"\x00"


def _session_id_arg(session_id: str) -> bytes:
    return _key_bytes(session_id.lower()) + b"\x00"


def _kv_table(name: str, with_session: bool) -> TableSchema:
    indexes = {"id": IndexSchema("id", SingleFuncIndex(_kv_key, _kv_arg, _kv_prefix), unique=True)}
    if with_session:
        indexes["session"] = IndexSchema("session", SingleFuncIndex(_session_of, _kv_arg), allow_missing=True)
    return TableSchema(name, indexes=indexes)


def _lc(field: str) -> StringFieldIndex:
    return StringFieldIndex(field, lowercase=True)


def state_schema() -> DBSchema:
    """A fresh schema object (each store gets its own; memdb validates it)."""
    return DBSchema(
        tables={
            INDEX: TableSchema(INDEX, indexes={"id": IndexSchema("id", _lc("Key"), unique=True)}),
            KVS: _kv_table(KVS, with_session=True),
            TOMBSTONES: _kv_table(TOMBSTONES, with_session=False),
            NODES: TableSchema(
                NODES,
                indexes={
                    "id": IndexSchema("id", _lc("Node"), unique=True),
                    "meta": IndexSchema("meta", StringMapFieldIndex("Meta"), allow_missing=True),
                },
            ),
            SERVICES: TableSchema(
                SERVICES,
                indexes={
                    "id": IndexSchema("id", CompoundIndex([_lc("Node"), _lc("ServiceID")]), unique=True),
                    "node": IndexSchema("node", _lc("Node")),
                    "service": IndexSchema("service", _lc("ServiceName"), allow_missing=True),
                },
            ),
            CHECKS: TableSchema(
                CHECKS,
                indexes={
                    "id": IndexSchema("id", CompoundIndex([_lc("Node"), _lc("CheckID")]), unique=True),
                    "status": IndexSchema("status", _lc("Status")),
                    "service": IndexSchema("service", _lc("ServiceName"), allow_missing=True),
                    "node": IndexSchema("node", _lc("Node"), allow_missing=True),
                    "node_service": IndexSchema(
                        "node_service", CompoundIndex([_lc("Node"), _lc("ServiceID")]), allow_missing=True
                    ),
                },
            ),
            SESSIONS: TableSchema(
                SESSIONS,
                indexes={
                    "id": IndexSchema("id", SingleFuncIndex(_session_id, _session_id_arg), unique=True),
                    "node": IndexSchema("node", _lc("Node")),
                },
            ),
            # One row at most (Consul's autopilot-config table: a ConditionalIndex that is always true).
            AUTOPILOT: TableSchema(
                AUTOPILOT, indexes={"id": IndexSchema("id", ConditionalIndex(lambda _: True), unique=True)}
            ),
            SESSION_CHECKS: TableSchema(
                SESSION_CHECKS,
                indexes={
                    "id": IndexSchema("id", CompoundIndex([_lc("Node"), _lc("CheckID"), _lc("Session")]), unique=True),
                    "node_check": IndexSchema("node_check", CompoundIndex([_lc("Node"), _lc("CheckID")])),
                    "session": IndexSchema("session", _lc("Session")),
                },
            ),
        }
    )
