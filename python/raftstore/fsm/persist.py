"""FSM snapshots: persist a state-store snapshot as Consul's record stream, and restore one into a fresh store.

Persist order is Consul's `persistCE` for the tables we have: Register (per node: the node, then one per service,
then one per check), Session, KVS, Tombstone (as a fake DirEntry {Key, ModifyIndex}, Consul's pre-0.6 format),
Index. Records are the maps Consul's Go codec writes (field names, RaftIndex inlined, raw strings).

Restore reads the whole stream into a *fresh* store's single write transaction; only when every record has been
read and applied does the caller swap the store in, so a damaged snapshot never replaces good state.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from raftstore.fsm.messages import MessageType
from raftstore.fsm.snapshot_stream import SnapshotFormatError, SnapshotReader, SnapshotWriter
from raftstore.memdb import MemDB
from raftstore.state import StateStore
from raftstore.state.errors import StateError
from raftstore.state.indextable import max_index, set_index
from raftstore.state.records import DirEntry, node_service
from raftstore.state.schema import AUTOPILOT, CHECKS, INDEX, KVS, NODES, SERVICES, SESSIONS, TABLES, TOMBSTONES
from raftstore.state.sessions import session_create

try:  # restored KV records need no cycle-collector tracking (raftstore.fsm.kvset.untrack_entry)
    from raftstore.fsm._kvset import untrack_entry
except ImportError:  # pragma: no cover  # the extension is not built: the reference leaves them tracked
    from raftstore.fsm.kvset import untrack_entry

RESTORABLE = frozenset(
    {
        MessageType.REGISTER,
        MessageType.SESSION,
        MessageType.KVS,
        MessageType.TOMBSTONE,
        MessageType.AUTOPILOT,
        MessageType.INDEX,
    }
)


def _node_request(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": node["ID"],
        "Node": node["Node"],
        "Address": node["Address"],
        "Datacenter": node["Datacenter"],
        "TaggedAddresses": node["TaggedAddresses"],
        "NodeMeta": node["Meta"],
        "CreateIndex": node["CreateIndex"],
        "ModifyIndex": node["ModifyIndex"],
    }


class FSMSnapshot:
    """A point-in-time view (an O(1) memdb snapshot) that persists while applies go on against the live store."""

    def __init__(self, db: MemDB) -> None:
        self._db: MemDB | None = db
        self.last_index = max_index(db.txn(), *TABLES)

    def persist(self, sink: BinaryIO) -> None:
        if self._db is None:
            raise RuntimeError("snapshot already released")
        tx = self._db.txn()
        out = SnapshotWriter(sink, self.last_index)
        write = out.write
        for node in tx.get(NODES, "id"):
            req = _node_request(node)
            write(MessageType.REGISTER, req)
            for svc in tx.get(SERVICES, "node", node["Node"]):
                write(MessageType.REGISTER, {**req, "Service": node_service(svc)})
            for check in tx.get(CHECKS, "node", node["Node"]):
                write(MessageType.REGISTER, {**req, "Check": check})
        for session in tx.get(SESSIONS, "id"):
            write(MessageType.SESSION, session)
        out.write_many(MessageType.KVS, (entry.to_record() for entry in tx.get(KVS, "id")))
        for stone in tx.get(TOMBSTONES, "id"):
            write(MessageType.TOMBSTONE, {"Key": stone.Key, "ModifyIndex": stone.ModifyIndex})
        autopilot = tx.first(AUTOPILOT, "id")
        if autopilot is not None:
            write(MessageType.AUTOPILOT, autopilot.to_fsm())
        for index_entry in tx.get(INDEX, "id"):
            write(MessageType.INDEX, {"Key": index_entry["Key"], "Value": index_entry["Value"]})

    def release(self) -> None:
        self._db = None


def _restore_register(tx: Any, req: Any) -> None:
    if not isinstance(req, dict) or not isinstance(req.get("Node"), str):
        raise StateError("Register record must be a map with a Node")
    node = req["Node"]
    if req.get("Service"):
        svc = req["Service"]
        tx.insert(
            SERVICES,
            {
                "Node": node,
                "Address": req.get("Address", ""),
                "ServiceKind": svc.get("Kind", ""),
                "ServiceID": svc.get("ID", ""),
                "ServiceName": svc.get("Service", ""),
                "ServiceTags": svc.get("Tags") or [],
                "ServiceAddress": svc.get("Address", ""),
                "ServiceMeta": svc.get("Meta") or {},
                "ServicePort": svc.get("Port", 0),
                "CreateIndex": svc.get("CreateIndex", 0),
                "ModifyIndex": svc.get("ModifyIndex", 0),
            },
        )
    elif req.get("Check"):
        tx.insert(CHECKS, dict(req["Check"]))
    else:
        tx.insert(
            NODES,
            {
                "ID": req.get("ID", ""),
                "Node": node,
                "Address": req.get("Address", ""),
                "Datacenter": req.get("Datacenter", ""),
                "TaggedAddresses": req.get("TaggedAddresses") or {},
                "Meta": req.get("NodeMeta") or {},
                "CreateIndex": req.get("CreateIndex", 0),
                "ModifyIndex": req.get("ModifyIndex", 0),
            },
        )


def _where(reader: SnapshotReader, record_type: int) -> str:
    return f"record {reader.records} ({MessageType(record_type).consul_name})"


def restore_store(source: BinaryIO, make_store: Any = StateStore) -> StateStore:
    """A new store holding the snapshot read from `source`; SnapshotFormatError if the stream is bad."""
    reader = SnapshotReader(source, accept=RESTORABLE)
    store: StateStore = make_store()
    tx = store.db.txn(write=True)
    try:
        kvs_type = int(MessageType.KVS)
        kv_max = stone_max = 0
        for record_type, value in reader:
            try:
                if record_type == kvs_type:
                    entry = untrack_entry(DirEntry.from_record(value, "KVS"))
                    tx.insert(KVS, entry)
                    kv_max = max(kv_max, entry.ModifyIndex)
                elif record_type == MessageType.TOMBSTONE:
                    stone = untrack_entry(DirEntry.from_record(value, "Tombstone"))
                    tx.insert(TOMBSTONES, stone)
                    stone_max = max(stone_max, stone.ModifyIndex)
                elif record_type == MessageType.INDEX:
                    if not isinstance(value, dict) or not isinstance(value.get("Value"), int):
                        raise StateError("Index record must be {Key, Value}")
                    tx.insert(INDEX, {"Key": value["Key"], "Value": value["Value"]})
                elif record_type == MessageType.AUTOPILOT:
                    from raftstore.autopilot.config import AutopilotConfig  # see FSM._apply_autopilot

                    tx.insert(AUTOPILOT, AutopilotConfig.from_fsm(value))
                elif record_type == MessageType.SESSION:
                    session_create(tx, 0, value, restoring=True)
                else:
                    _restore_register(tx, value)
            except (StateError, KeyError, TypeError, AttributeError) as error:
                raise SnapshotFormatError(f"{_where(reader, record_type)}: {error}") from None
            except Exception as error:  # memdb's IndexerError and friends: a record of the wrong shape
                raise SnapshotFormatError(f"{_where(reader, record_type)}: {type(error).__name__}: {error}") from None
        # Consul's Restore.KVS and Graveyard.RestoreTxn raise the index table too (only ever up), so a snapshot
        # without Index records still reports a sane index.
        for table, highest in ((KVS, kv_max), (TOMBSTONES, stone_max)):
            if highest:
                set_index(tx, table, highest)
    except BaseException:
        tx.abort()
        raise
    tx.commit()
    return store
