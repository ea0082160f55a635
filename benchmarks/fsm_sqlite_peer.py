"""The benchmark peer of raftstore's FSM: an rqlite-style FSM that applies the same Consul KVS commands (one type
byte + old-spec msgpack) by upserting rows into an in-memory sqlite3 database, one SQL transaction per batch.

It implements `set` with Consul's index rules (CreateIndex kept on update, ModifyIndex = the Raft index) and the
`kvs` index-table row, so both engines do the same logical work per command; snapshot is sqlite's own
`serialize()` (as rqlite snapshots its database file) and restore is `deserialize()`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import msgpack

from raftstore.fsm import MessageType
from raftstore.logstore.log import Log

_UPSERT = (
    "INSERT INTO kvs(key, value, flags, create_index, modify_index) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, flags = excluded.flags, "
    "modify_index = excluded.modify_index "
    "WHERE kvs.value IS NOT excluded.value OR kvs.flags IS NOT excluded.flags"
)


class SqliteFSM:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.execute(
            "CREATE TABLE kvs(key TEXT PRIMARY KEY, value BLOB, flags INTEGER, create_index INTEGER, "
            "modify_index INTEGER) WITHOUT ROWID"
        )
        self.db.execute("CREATE TABLE idx(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID")

    def apply_batch(self, logs: Iterable[Log]) -> list[Any]:
        rows = []
        last = 0
        for log in logs:
            data = log.data
            if data[0] != MessageType.KVS:
                raise ValueError(f"the sqlite peer applies KVS commands only, got type {data[0]}")
            req = msgpack.unpackb(memoryview(data)[1:], raw=False, unicode_errors="surrogateescape")
            if req["Op"] != "set":
                raise ValueError(f"the sqlite peer applies 'set' only, got {req['Op']!r}")
            ent = req["DirEnt"]
            value = ent.get("Value") or ""
            rows.append(
                (ent["Key"], value.encode("utf-8", "surrogateescape"), ent.get("Flags", 0), log.index, log.index)
            )
            last = log.index
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.executemany(_UPSERT, rows)
        cur.execute("INSERT OR REPLACE INTO idx(key, value) VALUES ('kvs', ?)", (last,))
        cur.execute("COMMIT")
        return [None] * len(rows)

    def count(self) -> int:
        n: int = self.db.execute("SELECT count(*) FROM kvs").fetchone()[0]
        return n

    def persist(self) -> bytes:
        return self.db.serialize()

    def restore(self, data: bytes) -> None:
        self.db.deserialize(data)
