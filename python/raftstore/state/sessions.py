"""Consul's sessions (classic session.go): create, destroy (release or delete the locks held), and invalidation.

Lock-delay is *not* part of the replicated state: Consul keeps it in memory on each server (it only matters on the
leader, which consults it before proposing a lock), so it lives in `LockDelays` with an injectable clock and never
reaches a snapshot; the FSM stays deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftstore.memdb import Txn, WatchSet
from raftstore.state import kvs
from raftstore.state.errors import InvalidRequestError
from raftstore.state.indextable import max_index, set_index
from raftstore.state.records import DirEntry, map_field, string_field, string_list_field, uint_field
from raftstore.state.schema import CHECKS, KVS, NODES, SESSION_CHECKS, SESSIONS

BEHAVIOR_RELEASE = "release"
BEHAVIOR_DELETE = "delete"
HEALTH_CRITICAL = "critical"
MAX_LOCK_DELAY_NS = 60 * 10**9


class LockDelays:
    """key -> monotonic expiry; a lock attempt on a key before its expiry must be refused by the leader."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._expiry: dict[str, float] = {}

    def set(self, key: str, delay_ns: int) -> None:
        if delay_ns <= 0:
            return
        until = self.clock() + min(delay_ns, MAX_LOCK_DELAY_NS) / 1e9
        if until > self._expiry.get(key, 0.0):
            self._expiry[key] = until

    def remaining(self, key: str) -> float:
        """Seconds until `key` may be locked again (0 when it may be now)."""
        until = self._expiry.get(key)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._expiry[key]
            return 0.0
        return left


def normalize(raw: Any) -> dict[str, Any]:
    """A Session record with Consul's fields and defaults from a decoded request; InvalidRequestError if malformed."""
    if not isinstance(raw, dict):
        raise InvalidRequestError("Session must be a map")
    node_checks = string_list_field(raw, "NodeChecks", "Session") or string_list_field(raw, "Checks", "Session")
    service_checks = raw.get("ServiceChecks") or []
    if not isinstance(service_checks, list) or not all(
        isinstance(c, dict) and isinstance(c.get("ID"), str) for c in service_checks
    ):
        raise InvalidRequestError("Session.ServiceChecks must be a list of {ID, Namespace}")
    behavior = string_field(raw, "Behavior", "Session") or BEHAVIOR_RELEASE
    if behavior not in (BEHAVIOR_RELEASE, BEHAVIOR_DELETE):
        raise InvalidRequestError(f"Invalid session behavior setting '{behavior}'")
    lock_delay = raw.get("LockDelay", 0)
    if not isinstance(lock_delay, int) or isinstance(lock_delay, bool):
        raise InvalidRequestError("Session.LockDelay must be an integer of nanoseconds")
    map_field(raw, "EnterpriseMeta", "Session")
    return {
        "ID": string_field(raw, "ID", "Session"),
        "Name": string_field(raw, "Name", "Session"),
        "Node": string_field(raw, "Node", "Session"),
        "LockDelay": lock_delay,
        "Behavior": behavior,
        "TTL": string_field(raw, "TTL", "Session"),
        "NodeChecks": node_checks,
        "ServiceChecks": [{"ID": c["ID"], "Namespace": c.get("Namespace") or ""} for c in service_checks],
        "CreateIndex": uint_field(raw, "CreateIndex", "Session"),
        "ModifyIndex": uint_field(raw, "ModifyIndex", "Session"),
    }


def _all_checks(session: dict[str, Any]) -> list[str]:
    return list(session["NodeChecks"]) + [c["ID"] for c in session["ServiceChecks"]]


def session_create(tx: Txn, idx: int, raw: Any, restoring: bool = False) -> str:
    """Insert a session: the node must exist and every linked check must exist and not be critical."""
    session = normalize(raw)
    if not session["ID"]:
        raise InvalidRequestError("Missing session ID")
    if tx.first(SESSIONS, "id", session["ID"]) is not None and not restoring:
        raise InvalidRequestError(f"Session ID {session['ID']!r} already exists")
    node = session["Node"]
    if tx.first(NODES, "id", node) is None and not restoring:
        raise InvalidRequestError(f"Missing node registration for {node!r}")
    for check_id in _all_checks(session):
        if restoring:
            break
        check = tx.first(CHECKS, "id", node, check_id)
        if check is None:
            raise InvalidRequestError(f"Missing check '{check_id}' registration")
        if check["Status"] == HEALTH_CRITICAL:
            raise InvalidRequestError(f"Check '{check_id}' is in critical state")
    if not restoring:
        session["CreateIndex"] = session["ModifyIndex"] = idx
    tx.insert(SESSIONS, session)
    for check_id in _all_checks(session):
        tx.insert(SESSION_CHECKS, {"Node": node, "CheckID": check_id, "Session": session["ID"]})
    set_index(tx, SESSIONS, session["ModifyIndex"] if restoring else idx)
    return str(session["ID"])


def session_destroy(tx: Txn, idx: int, session_id: str, delays: LockDelays | None) -> None:
    """Delete a session; its locks are released (or their keys deleted, behaviour "delete"), lock-delay set."""
    session = tx.first(SESSIONS, "id", session_id)
    if session is None:
        return
    tx.delete(SESSIONS, session)
    set_index(tx, SESSIONS, idx)
    held: list[DirEntry] = list(tx.get(KVS, "session", session["ID"]))
    for entry in held:
        if session["Behavior"] == BEHAVIOR_DELETE:
            kvs.kvs_delete(tx, idx, entry.Key)
        else:
            released = entry.copy()
            released.Session = ""
            kvs.kvs_set(tx, idx, released, update_session=True)
        if delays is not None:
            delays.set(entry.Key, session["LockDelay"])
    tx.delete_all(SESSION_CHECKS, "session", session["ID"])


def invalidate_for_check(tx: Txn, idx: int, node: str, check_id: str, delays: LockDelays | None) -> None:
    """A check went critical or away: destroy every session linked to it."""
    linked = [m["Session"] for m in tx.get(SESSION_CHECKS, "node_check", node, check_id)]
    for session_id in linked:
        session_destroy(tx, idx, session_id, delays)


def invalidate_for_node(tx: Txn, idx: int, node: str, delays: LockDelays | None) -> None:
    for session_id in [s["ID"] for s in tx.get(SESSIONS, "node", node)]:
        session_destroy(tx, idx, session_id, delays)


def session_get(tx: Txn, session_id: str, ws: WatchSet | None = None) -> tuple[int, dict[str, Any] | None]:
    index = max_index(tx, SESSIONS, ws=ws)
    if ws is not None:
        watch, session = tx.first_watch(SESSIONS, "id", session_id)
        ws.add(watch)
    else:
        session = tx.first(SESSIONS, "id", session_id)
    return index, session


def session_list(tx: Txn, ws: WatchSet | None = None, node: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    index = max_index(tx, SESSIONS, ws=ws)
    args: tuple[str, ...] = ("node", node) if node is not None else ("id",)
    if ws is not None:
        watch, it = tx.get_watch(SESSIONS, *args)
        ws.add(watch)
    else:
        it = tx.get(SESSIONS, *args)
    return index, list(it)
