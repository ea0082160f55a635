"""The FSM the Raft runtime drives: `apply`, `apply_batch`, `snapshot`, `restore` (Consul's fsm.go).

Handlers are registered in a `CommandTable` per FSM (a duplicate is an error). What a handler returns is the
command's response, as in Consul: None, a bool (cas/lock/unlock/delete-cas), a session ID, a `TxnResponse`
dict, or the `StateError` that refused the request (returned, not raised: a refused request is a normal outcome
that every replica reaches identically). An undecodable body or an unknown type without the ignore flag raises:
the runtime must stop applying rather than diverge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from raftstore.fsm import kvset
from raftstore.fsm.codec import decode_body
from raftstore.fsm.dispatch import CommandTable
from raftstore.fsm.messages import MessageType
from raftstore.fsm.persist import FSMSnapshot, restore_store
from raftstore.logstore.log import Log, LogType
from raftstore.memdb import Txn
from raftstore.state import StateStore, catalog, kvs, sessions
from raftstore.state.errors import InvalidRequestError, StateError
from raftstore.state.indextable import defer_updates, discard_deferred, flush_deferred, set_index
from raftstore.state.records import DirEntry, string_field, uint_field
from raftstore.state.schema import AUTOPILOT, KVS
from raftstore.state.txn import TxnAborted, txn_rw

_KVS_OPS = {"set", "cas", "lock", "unlock", "delete", "delete-cas", "delete-tree"}
# Commands that never write before they have validated everything: safe to share a batch's write transaction.
_BATCHABLE = {int(MessageType.KVS), int(MessageType.TOMBSTONE)}


def _not_utf8(error: UnicodeEncodeError) -> InvalidRequestError:
    return InvalidRequestError(f"a string field is not valid UTF-8: {error.object[error.start : error.end]!r}")


_KV_FAST_PATHS = ("auto", "c", "python", "off")


def _set_run_function(kv_fast_path: str) -> Callable[[list[Log], int, Any], tuple[int, int]] | None:
    """The KV-set fast path's implementation: the C one by default, the pure-Python reference (same results, for
    tests and for platforms without the extension), or none (every entry takes the general path)."""
    if kv_fast_path not in _KV_FAST_PATHS:
        raise ValueError(f"kv_fast_path must be one of {', '.join(_KV_FAST_PATHS)}, got {kv_fast_path!r}")
    if kv_fast_path == "off":
        return None
    if kv_fast_path == "python":
        return kvset.apply_set_run
    try:
        from raftstore.fsm import _kvset
    except ImportError:
        if kv_fast_path == "c":
            raise
        return kvset.apply_set_run
    return _kvset.apply_set_run


class FSM:
    """Consul's FSM over a `StateStore`; `clock` drives only lock-delay (never persisted).

    `kv_fast_path` picks how `apply_batch` applies runs of plain KV sets (raftstore.fsm.kvset): "auto" (C when
    built), "c", "python" (the reference) or "off"; every choice gives the same state and responses."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, kv_fast_path: str = "auto") -> None:
        self._clock = clock
        self._set_run = _set_run_function(kv_fast_path)
        self.state = StateStore(clock)
        self._state_lock = threading.Lock()
        self._tx: Txn | None = None
        self.commands = CommandTable()
        self.commands.register(MessageType.REGISTER, self._apply_register)
        self.commands.register(MessageType.DEREGISTER, self._apply_deregister)
        self.commands.register(MessageType.KVS, self._apply_kvs)
        self.commands.register(MessageType.SESSION, self._apply_session)
        self.commands.register(MessageType.TOMBSTONE, self._apply_tombstone)
        self.commands.register(MessageType.TXN, self._apply_txn)
        self.commands.register(MessageType.AUTOPILOT, self._apply_autopilot)

    # ------------------------------------------------------------------------------------------ protocol

    def apply(self, log: Log) -> Any:
        if log.type != LogType.COMMAND:
            return None
        return self.commands.apply(log.data, log.index)

    def apply_batch(self, logs: Iterable[Log]) -> list[Any]:
        """Apply entries in order with per-entry semantics; runs of KV/tombstone commands share one memdb write
        transaction (they validate before writing, so a refused one leaves the shared transaction untouched), and
        runs of plain KV sets within them take the fast path (raftstore.fsm.kvset), which writes exactly what the
        general path would."""
        entries = logs if isinstance(logs, list) else list(logs)
        responses: list[Any] = []
        set_run = self._set_run
        i = 0
        try:
            while i < len(entries):
                log = entries[i]
                if log.type != LogType.COMMAND:
                    responses.append(None)
                    i += 1
                    continue
                batchable = len(log.data) > 0 and (log.data[0] & 0x7F) in _BATCHABLE
                if batchable and self._tx is None:
                    self._tx = self.state.db.txn(write=True)
                    defer_updates(self._tx)
                elif not batchable and self._tx is not None:
                    self._commit_batch()
                if set_run is not None and batchable and self._tx is not None:
                    # index_txns() also drops readable copies taken by earlier reads: the run writes in place.
                    stop, last = set_run(entries, i, self._tx.index_txns(KVS)[0])
                    if last:
                        set_index(self._tx, KVS, last)
                    if stop > i:
                        responses.extend([None] * (stop - i))
                        i = stop
                        continue
                responses.append(self.commands.apply(log.data, log.index))
                i += 1
        finally:
            self._commit_batch()
        return responses

    def snapshot(self) -> FSMSnapshot:
        return FSMSnapshot(self.state.db.snapshot())

    def restore(self, reader: BinaryIO) -> None:
        """Build a new store from the stream; swap it in only once complete; wake blocking queries on the old."""
        fresh = restore_store(reader, lambda: StateStore(self._clock))
        with self._state_lock:
            old, self.state = self.state, fresh
        old.abandon()

    # ------------------------------------------------------------------------------------------ plumbing

    def _commit_batch(self) -> None:
        if self._tx is not None:
            tx, self._tx = self._tx, None
            try:
                flush_deferred(tx)
            except BaseException:
                discard_deferred(tx)
                tx.abort()
                raise
            tx.commit()

    def _run(self, fn: Callable[[Txn], Any]) -> Any:
        """Run `fn` in the batch's transaction or a transaction of its own; a StateError is the response.

        A string field decoded from raw bytes that are not UTF-8 (kept with surrogateescape, see fsm.codec) cannot
        be a memdb index key, whose string indexes hold UTF-8: memdb raises UnicodeEncodeError, before the write of
        that object. It is refused like any invalid request, identically on every replica, instead of stopping the
        apply loop on all of them."""
        if self._tx is not None:
            try:
                return fn(self._tx)
            except StateError as error:
                return error
            except UnicodeEncodeError as error:
                return _not_utf8(error)
        try:
            with self.state.write() as tx:
                return fn(tx)
        except StateError as error:
            return error
        except UnicodeEncodeError as error:
            return _not_utf8(error)

    # ------------------------------------------------------------------------------------------ handlers

    def _apply_kvs(self, body: memoryview, index: int) -> Any:
        req = decode_body(body)
        op = req.get("Op")
        if not isinstance(op, str) or op not in _KVS_OPS:  # a decoded map or array is unhashable
            return InvalidRequestError(f"Invalid KVS operation '{op}'")
        try:
            entry = DirEntry.from_record(req.get("DirEnt"))
        except StateError as error:
            return error
        if op == "set":
            return self._run(lambda tx: kvs.kvs_set(tx, index, entry, owned=True))
        if op == "cas":
            return self._run(lambda tx: kvs.kvs_cas(tx, index, entry))
        if op == "lock":
            return self._run(lambda tx: kvs.kvs_lock(tx, index, entry))
        if op == "unlock":
            return self._run(lambda tx: kvs.kvs_unlock(tx, index, entry))
        if op == "delete":
            return self._run(lambda tx: kvs.kvs_delete(tx, index, entry.Key))
        if op == "delete-cas":
            return self._run(lambda tx: kvs.kvs_delete_cas(tx, index, entry.ModifyIndex, entry.Key))
        return self._run(lambda tx: kvs.kvs_delete_tree(tx, index, entry.Key))

    def _apply_tombstone(self, body: memoryview, index: int) -> Any:
        req = decode_body(body)
        if req.get("Op") != "reap":
            return InvalidRequestError(f"Invalid Tombstone operation '{req.get('Op')}'")
        try:
            reap = uint_field(req, "ReapIndex", "TombstoneRequest")
        except StateError as error:
            return error
        return self._run(lambda tx: kvs.reap_tombstones(tx, index, reap))

    def _apply_session(self, body: memoryview, index: int) -> Any:
        req = decode_body(body)
        op = req.get("Op")
        if op == "create":
            return self._run(lambda tx: sessions.session_create(tx, index, req.get("Session")))
        if op == "destroy":
            raw = req.get("Session")
            if not isinstance(raw, dict):
                return InvalidRequestError("Session must be a map")
            session_id = string_field(raw, "ID", "Session")
            return self._run(lambda tx: sessions.session_destroy(tx, index, session_id, self.state.lock_delays))
        return InvalidRequestError(f"Invalid Session operation '{op}'")

    def _apply_register(self, body: memoryview, index: int) -> Any:
        req = decode_body(body)
        return self._run(lambda tx: catalog.ensure_registration(tx, index, req, self.state.lock_delays))

    def _apply_deregister(self, body: memoryview, index: int) -> Any:
        req = decode_body(body)
        return self._run(lambda tx: catalog.deregister(tx, index, req, self.state.lock_delays))

    def _apply_autopilot(self, body: memoryview, index: int) -> Any:
        """AutopilotSetConfigRequest: a CAS write returns its bool, a plain set None (Consul's applyAutopilotUpdate).
        Imported here: raftstore.autopilot itself imports raftstore.fsm's codec."""
        from raftstore.autopilot.config import AutopilotConfigError, AutopilotSetConfigRequest, apply_set_config

        try:
            request = AutopilotSetConfigRequest.from_body(decode_body(body))
        except AutopilotConfigError as error:
            return InvalidRequestError(f"invalid autopilot configuration: {error}")

        def write(tx: Txn) -> bool | None:
            stored, ok = apply_set_config(tx.first(AUTOPILOT, "id"), request, index)
            if stored is not None:
                tx.insert(AUTOPILOT, stored)
                set_index(tx, AUTOPILOT, index)
            return ok if request.cas else None

        return self._run(write)

    def _apply_txn(self, body: memoryview, index: int) -> Any:
        req = decode_body(body)
        try:
            with self.state.write() as tx:
                results = txn_rw(tx, index, req.get("Ops"), self.state.lock_delays)
        except TxnAborted as aborted:
            return {"Results": None, "Errors": aborted.errors}
        except StateError as error:
            return {"Results": None, "Errors": [{"OpIndex": 0, "What": str(error)}]}
        return {"Results": results, "Errors": None}
