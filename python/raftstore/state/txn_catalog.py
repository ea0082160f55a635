"""Catalog operations inside a transaction (Consul's txnNode, txnService, txnCheck): verbs get, set, cas, delete,
delete-cas, each returning Consul's result shape ({"Node": ...}, {"Service": ...}, {"Check": ...}) or raising
InvalidRequestError with Consul's text, which aborts the whole transaction."""

from __future__ import annotations

from typing import Any

from raftstore.memdb import Txn
from raftstore.state import catalog
from raftstore.state.errors import InvalidRequestError
from raftstore.state.records import node_service, string_field, uint_field
from raftstore.state.schema import CHECKS, NODES, SERVICES
from raftstore.state.sessions import LockDelays

Results = list[dict[str, Any]]


def _cas_ok(existing: dict[str, Any] | None, wanted: int) -> bool:
    if wanted == 0:
        return existing is None
    return existing is not None and existing["ModifyIndex"] == wanted


def _register_on_node(tx: Txn, idx: int, node: str, field: str, raw: dict[str, Any], delays: LockDelays | None) -> None:
    """Register a service or check (`field`) on a node that must already exist, leaving the node as it is."""
    node_row = tx.first(NODES, "id", node)
    if node_row is None:
        raise InvalidRequestError(f"node {node!r} doesn't exist")
    catalog.ensure_registration(
        tx, idx, {"Node": node_row["Node"], "Address": node_row["Address"], "SkipNodeUpdate": True, field: raw}, delays
    )


def node_op(tx: Txn, idx: int, op: dict[str, Any], delays: LockDelays | None = None) -> Results:
    verb = op.get("Verb")
    raw = op.get("Node")
    if not isinstance(raw, dict):
        raise InvalidRequestError("Node op must carry a Node")
    name = string_field(raw, "Node", "Node")
    existing = tx.first(NODES, "id", name) if name else None
    if verb == "get":
        if existing is None:
            raise InvalidRequestError(f"node {name!r} doesn't exist")
        return [{"Node": existing}]
    if verb in ("delete", "delete-cas"):
        if verb == "delete-cas" and (
            existing is None or existing["ModifyIndex"] != uint_field(raw, "ModifyIndex", "Node")
        ):
            raise InvalidRequestError(f"failed to delete node {name!r}, index is stale")
        catalog.deregister(tx, idx, {"Node": name}, delays)
        return []
    if verb in ("set", "cas"):
        if verb == "cas" and not _cas_ok(existing, uint_field(raw, "ModifyIndex", "Node")):
            raise InvalidRequestError(f"failed to set node {name!r}, index is stale")
        req = {k: raw.get(k) for k in ("ID", "Node", "Address", "Datacenter", "TaggedAddresses")}
        req["NodeMeta"] = raw.get("Meta")
        catalog.ensure_registration(tx, idx, req, delays)
        return [{"Node": tx.first(NODES, "id", name)}]
    raise InvalidRequestError(f"unknown Node verb {verb!r}")


def service_op(tx: Txn, idx: int, op: dict[str, Any], delays: LockDelays | None = None) -> Results:
    verb = op.get("Verb")
    node = string_field(op, "Node", "Service op")
    raw = op.get("Service")
    if not isinstance(raw, dict):
        raise InvalidRequestError("Service op must carry a Service")
    service_id = string_field(raw, "ID", "Service")
    existing = tx.first(SERVICES, "id", node, service_id) if node and service_id else None
    if verb == "get":
        if existing is None:
            raise InvalidRequestError(f"service {service_id!r} on node {node!r} doesn't exist")
        return [{"Service": node_service(existing)}]
    if verb in ("delete", "delete-cas"):
        if verb == "delete-cas" and (
            existing is None or existing["ModifyIndex"] != uint_field(raw, "ModifyIndex", "Service")
        ):
            raise InvalidRequestError(f"failed to delete service {service_id!r}, index is stale")
        catalog.deregister(tx, idx, {"Node": node, "ServiceID": service_id}, delays)
        return []
    if verb in ("set", "cas"):
        if verb == "cas" and not _cas_ok(existing, uint_field(raw, "ModifyIndex", "Service")):
            raise InvalidRequestError(f"failed to set service {service_id!r}, index is stale")
        _register_on_node(tx, idx, node, "Service", raw, delays)
        return [{"Service": node_service(tx.first(SERVICES, "id", node, service_id or raw.get("Service", "")))}]
    raise InvalidRequestError(f"unknown Service verb {verb!r}")


def check_op(tx: Txn, idx: int, op: dict[str, Any], delays: LockDelays | None = None) -> Results:
    verb = op.get("Verb")
    raw = op.get("Check")
    if not isinstance(raw, dict):
        raise InvalidRequestError("Check op must carry a Check")
    node = string_field(raw, "Node", "Check")
    check_id = string_field(raw, "CheckID", "Check")
    existing = tx.first(CHECKS, "id", node, check_id) if node and check_id else None
    if verb == "get":
        if existing is None:
            raise InvalidRequestError(f"check {check_id!r} on node {node!r} doesn't exist")
        return [{"Check": existing}]
    if verb in ("delete", "delete-cas"):
        if verb == "delete-cas" and (
            existing is None or existing["ModifyIndex"] != uint_field(raw, "ModifyIndex", "Check")
        ):
            raise InvalidRequestError(f"failed to delete check {check_id!r}, index is stale")
        catalog.deregister(tx, idx, {"Node": node, "CheckID": check_id}, delays)
        return []
    if verb in ("set", "cas"):
        if verb == "cas" and not _cas_ok(existing, uint_field(raw, "ModifyIndex", "Check")):
            raise InvalidRequestError(f"failed to set check {check_id!r}, index is stale")
        _register_on_node(tx, idx, node, "Check", raw, delays)
        return [{"Check": tx.first(CHECKS, "id", node, check_id)}]
    raise InvalidRequestError(f"unknown Check verb {verb!r}")
