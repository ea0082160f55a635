"""The state store facade: one memdb database with Consul's schema, read queries returning (index, result) and
accepting a WatchSet (blocking queries), and the write entry points the FSM calls with a Raft index.

Every write runs inside one memdb write transaction: a refused request raises before it writes, or the whole
transaction is aborted, so a failed command never leaves partial state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from raftstore.memdb import MemDB, Txn, WatchSet
from raftstore.radix import Tree, Watch
from raftstore.state import catalog, kvs, sessions
from raftstore.state.indextable import max_index
from raftstore.state.records import DirEntry
from raftstore.state.schema import AUTOPILOT, TABLES, state_schema


class StateStore:
    """Consul's state store. `clock` (monotonic seconds) only drives lock-delay, which is never persisted."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, db: MemDB | None = None) -> None:
        self.db = db if db is not None else MemDB(state_schema())
        self.lock_delays = sessions.LockDelays(clock)
        # Fired once when a restore replaces this store: blocking queries on it wake and re-run on the new one
        # (Consul's abandonCh). memdb has no standalone watch, so it is the watch of one key of a private radix
        # tree; `abandon` writes that key.
        self._abandon_tree = Tree()
        self._abandon = self._abandon_tree.watch(b"abandoned")

    # ------------------------------------------------------------------------------------------ plumbing

    @contextmanager
    def write(self) -> Iterator[Txn]:
        tx = self.db.txn(write=True)
        try:
            yield tx
        except BaseException:
            tx.abort()
            raise
        tx.commit()

    def read(self) -> Txn:
        return self.db.txn()

    def abandon_watch(self) -> Watch:
        return self._abandon

    def abandon(self) -> None:
        self._abandon_tree = self._abandon_tree.insert(b"abandoned", True)

    def _ws(self, ws: WatchSet | None) -> WatchSet | None:
        if ws is not None:
            ws.add(self._abandon)
        return ws

    def max_index(self, *tables: str) -> int:
        return max_index(self.read(), *(tables or TABLES))

    # ------------------------------------------------------------------------------------------ KV writes

    def kvs_set(self, idx: int, entry: DirEntry) -> None:
        with self.write() as tx:
            kvs.kvs_set(tx, idx, entry)

    def kvs_set_cas(self, idx: int, entry: DirEntry) -> bool:
        with self.write() as tx:
            return kvs.kvs_cas(tx, idx, entry)

    def kvs_lock(self, idx: int, entry: DirEntry) -> bool:
        with self.write() as tx:
            return kvs.kvs_lock(tx, idx, entry)

    def kvs_unlock(self, idx: int, entry: DirEntry) -> bool:
        with self.write() as tx:
            return kvs.kvs_unlock(tx, idx, entry)

    def kvs_delete(self, idx: int, key: str) -> None:
        with self.write() as tx:
            kvs.kvs_delete(tx, idx, key)

    def kvs_delete_cas(self, idx: int, cas_index: int, key: str) -> bool:
        with self.write() as tx:
            return kvs.kvs_delete_cas(tx, idx, cas_index, key)

    def kvs_delete_tree(self, idx: int, prefix: str) -> None:
        with self.write() as tx:
            kvs.kvs_delete_tree(tx, idx, prefix)

    def reap_tombstones(self, idx: int, reap_index: int) -> None:
        with self.write() as tx:
            kvs.reap_tombstones(tx, idx, reap_index)

    def kvs_lock_delay(self, key: str) -> float:
        """Seconds a new lock on `key` must still wait (the leader refuses `lock` before proposing it)."""
        return self.lock_delays.remaining(key)

    # ------------------------------------------------------------------------------------------ KV reads

    def kvs_get(self, key: str, ws: WatchSet | None = None) -> tuple[int, DirEntry | None]:
        return kvs.kvs_get(self.read(), key, self._ws(ws))

    def kvs_list(self, prefix: str = "", ws: WatchSet | None = None) -> tuple[int, list[DirEntry]]:
        return kvs.kvs_list(self.read(), prefix, self._ws(ws))

    def kvs_list_keys(self, prefix: str = "", separator: str = "", ws: WatchSet | None = None) -> tuple[int, list[str]]:
        return kvs.kvs_list_keys(self.read(), prefix, separator, self._ws(ws))

    def tombstones(self) -> list[DirEntry]:
        return list(self.read().get("tombstones", "id"))

    # ------------------------------------------------------------------------------------------ sessions

    def session_create(self, idx: int, session: Any) -> str:
        with self.write() as tx:
            return sessions.session_create(tx, idx, session)

    def session_destroy(self, idx: int, session_id: str) -> None:
        with self.write() as tx:
            sessions.session_destroy(tx, idx, session_id, self.lock_delays)

    def session_get(self, session_id: str, ws: WatchSet | None = None) -> tuple[int, dict[str, Any] | None]:
        return sessions.session_get(self.read(), session_id, self._ws(ws))

    def session_list(self, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return sessions.session_list(self.read(), self._ws(ws))

    def node_sessions(self, node: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return sessions.session_list(self.read(), self._ws(ws), node=node)

    # ------------------------------------------------------------------------------------------ autopilot

    def autopilot_config(self, ws: WatchSet | None = None) -> tuple[int, Any]:
        """(index, the stored `raftstore.autopilot.AutopilotConfig` or None)."""
        tx = self.read()
        index = max_index(tx, AUTOPILOT, ws=self._ws(ws))
        if ws is not None:
            watch, config = tx.first_watch(AUTOPILOT, "id")
            ws.add(watch)
            return index, config
        return index, tx.first(AUTOPILOT, "id")

    # ------------------------------------------------------------------------------------------ catalog

    def ensure_registration(self, idx: int, req: Any) -> None:
        with self.write() as tx:
            catalog.ensure_registration(tx, idx, req, self.lock_delays)

    def deregister(self, idx: int, req: Any) -> None:
        with self.write() as tx:
            catalog.deregister(tx, idx, req, self.lock_delays)

    def nodes(self, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return catalog.nodes(self.read(), self._ws(ws))

    def node_services(self, node: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return catalog.node_services(self.read(), node, self._ws(ws))

    def service_nodes(self, service: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return catalog.service_nodes(self.read(), service, self._ws(ws))

    def node_checks(self, node: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return catalog.node_checks(self.read(), node, self._ws(ws))

    def checks_in_state(self, state: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
        return catalog.checks_in_state(self.read(), state, self._ws(ws))

    def check_service_nodes(
        self, service: str, ws: WatchSet | None = None, passing_only: bool = False
    ) -> tuple[int, list[dict[str, Any]]]:
        return catalog.check_service_nodes(self.read(), service, self._ws(ws), passing_only)
