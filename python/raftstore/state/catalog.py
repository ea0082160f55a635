"""Consul's catalog (classic catalog.go): nodes, services, checks; register and deregister; service health.

Records are dicts with Consul's field names: a node is `structs.Node`, a service row is `structs.ServiceNode`
(Service* fields plus the Node), a check is `structs.HealthCheck`. Index sub-keys follow Consul: "nodes",
"services", "checks", and "service.<name>" so a health query on one service wakes only for that service.
"""

from __future__ import annotations

from typing import Any

from raftstore.memdb import Txn, WatchSet
from raftstore.state import sessions
from raftstore.state.errors import InvalidRequestError
from raftstore.state.indextable import max_index, set_index
from raftstore.state.records import map_field, string_field, string_list_field, uint_field
from raftstore.state.schema import CHECKS, NODES, SERVICES

_HEALTH_STATES = {"passing", "warning", "critical", "maintenance"}


def _changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if old is None:
        return True
    return any(old.get(k) != v for k, v in new.items() if k not in ("CreateIndex", "ModifyIndex"))


def _stamp(tx: Txn, table: str, idx: int, row: dict[str, Any], *key: str) -> bool:
    """Insert `row` with Consul's indexes unless it equals the existing row; returns whether it was written."""
    old = tx.first(table, "id", *key)
    if not _changed(old, row):
        return False
    row["CreateIndex"] = old["CreateIndex"] if old is not None else idx
    row["ModifyIndex"] = idx
    tx.insert(table, row)
    return True


def _node_from(req: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": string_field(req, "ID", "RegisterRequest"),
        "Node": string_field(req, "Node", "RegisterRequest"),
        "Address": string_field(req, "Address", "RegisterRequest"),
        "Datacenter": string_field(req, "Datacenter", "RegisterRequest"),
        "TaggedAddresses": map_field(req, "TaggedAddresses", "RegisterRequest"),
        "Meta": map_field(req, "NodeMeta", "RegisterRequest"),
    }


def _service_from(node: str, address: str, svc: Any) -> dict[str, Any]:
    if not isinstance(svc, dict):
        raise InvalidRequestError("Service must be a map")
    service_id = string_field(svc, "ID", "Service") or string_field(svc, "Service", "Service")
    if not service_id:
        raise InvalidRequestError("Service ID missing")
    return {
        "Node": node,
        "Address": address,
        "ServiceKind": string_field(svc, "Kind", "Service"),
        "ServiceID": service_id,
        "ServiceName": string_field(svc, "Service", "Service"),
        "ServiceTags": string_list_field(svc, "Tags", "Service"),
        "ServiceAddress": string_field(svc, "Address", "Service"),
        "ServiceMeta": map_field(svc, "Meta", "Service"),
        "ServicePort": uint_field(svc, "Port", "Service"),
    }


def _check_from(tx: Txn, node: str, chk: Any, pending_service: dict[str, Any] | None = None) -> dict[str, Any]:
    """A HealthCheck row; `pending_service` is a service registered by the same request and not yet written."""
    if not isinstance(chk, dict):
        raise InvalidRequestError("Check must be a map")
    check_id = string_field(chk, "CheckID", "Check")
    if not check_id:
        raise InvalidRequestError("Missing check ID")
    status = string_field(chk, "Status", "Check") or "critical"  # Consul's default for a new check
    if status not in _HEALTH_STATES:
        raise InvalidRequestError(f"Invalid check status {status!r}")
    check_node = string_field(chk, "Node", "Check") or node
    if check_node.lower() != node.lower():
        raise InvalidRequestError(f"Check node {check_node!r} does not match registration node {node!r}")
    service_id = string_field(chk, "ServiceID", "Check")
    service_name, service_tags = "", []
    if service_id:
        svc = tx.first(SERVICES, "id", node, service_id)
        if svc is None and pending_service is not None and pending_service["ServiceID"].lower() == service_id.lower():
            svc = pending_service
        if svc is None:
            raise InvalidRequestError(f"Missing service registration for check {check_id!r}: {service_id!r}")
        service_name, service_tags = svc["ServiceName"], svc["ServiceTags"]
    return {
        "Node": node,
        "CheckID": check_id,
        "Name": string_field(chk, "Name", "Check"),
        "Status": status,
        "Notes": string_field(chk, "Notes", "Check"),
        "Output": string_field(chk, "Output", "Check"),
        "ServiceID": service_id,
        "ServiceName": service_name,
        "ServiceTags": service_tags,
    }


def ensure_registration(tx: Txn, idx: int, req: Any, delays: sessions.LockDelays | None) -> None:
    """EnsureRegistration: node, then service, then checks; everything validated before the first write."""
    if not isinstance(req, dict):
        raise InvalidRequestError("RegisterRequest must be a map")
    node = _node_from(req)
    if not node["Node"]:
        raise InvalidRequestError("Missing node name")
    service = req.get("Service")
    raw_checks = ([req["Check"]] if req.get("Check") else []) + list(req.get("Checks") or [])
    svc_row = _service_from(node["Node"], node["Address"], service) if service else None
    # Validate every check before the first write (a check may name the service this same request registers).
    for chk in raw_checks:
        _check_from(tx, node["Node"], chk, svc_row)
    skip_node = req.get("SkipNodeUpdate") and tx.first(NODES, "id", node["Node"]) is not None
    if not skip_node and _stamp(tx, NODES, idx, node, node["Node"]):
        set_index(tx, NODES, idx)
    if svc_row is not None and _stamp(tx, SERVICES, idx, svc_row, node["Node"], svc_row["ServiceID"]):
        set_index(tx, SERVICES, idx)
        set_index(tx, f"service.{svc_row['ServiceName']}", idx)
    for chk in raw_checks:
        ensure_check(tx, idx, node["Node"], _check_from(tx, node["Node"], chk), delays)


def ensure_check(tx: Txn, idx: int, node: str, row: dict[str, Any], delays: sessions.LockDelays | None) -> None:
    if _stamp(tx, CHECKS, idx, row, node, row["CheckID"]):
        set_index(tx, CHECKS, idx)
        if row["ServiceName"]:
            set_index(tx, f"service.{row['ServiceName']}", idx)
        if row["Status"] == sessions.HEALTH_CRITICAL:
            sessions.invalidate_for_check(tx, idx, node, row["CheckID"], delays)


def _delete_check(tx: Txn, idx: int, check: dict[str, Any], delays: sessions.LockDelays | None) -> None:
    tx.delete(CHECKS, check)
    set_index(tx, CHECKS, idx)
    if check["ServiceName"]:
        set_index(tx, f"service.{check['ServiceName']}", idx)
    sessions.invalidate_for_check(tx, idx, check["Node"], check["CheckID"], delays)


def _delete_service(tx: Txn, idx: int, svc: dict[str, Any], delays: sessions.LockDelays | None) -> None:
    for check in list(tx.get(CHECKS, "node_service", svc["Node"], svc["ServiceID"])):
        _delete_check(tx, idx, check, delays)
    tx.delete(SERVICES, svc)
    set_index(tx, SERVICES, idx)
    set_index(tx, f"service.{svc['ServiceName']}", idx)


def deregister(tx: Txn, idx: int, req: Any, delays: sessions.LockDelays | None) -> None:
    """ServiceID wins over CheckID, which wins over deleting the whole node (with its services, checks, sessions)."""
    if not isinstance(req, dict):
        raise InvalidRequestError("DeregisterRequest must be a map")
    node = string_field(req, "Node", "DeregisterRequest")
    service_id = string_field(req, "ServiceID", "DeregisterRequest")
    check_id = string_field(req, "CheckID", "DeregisterRequest")
    if not node:
        raise InvalidRequestError("Missing node name")
    if service_id:
        svc = tx.first(SERVICES, "id", node, service_id)
        if svc is not None:
            _delete_service(tx, idx, svc, delays)
        return
    if check_id:
        check = tx.first(CHECKS, "id", node, check_id)
        if check is not None:
            _delete_check(tx, idx, check, delays)
        return
    row = tx.first(NODES, "id", node)
    if row is None:
        return
    for svc in list(tx.get(SERVICES, "node", node)):
        _delete_service(tx, idx, svc, delays)
    for check in list(tx.get(CHECKS, "node", node)):
        _delete_check(tx, idx, check, delays)
    sessions.invalidate_for_node(tx, idx, node, delays)
    tx.delete(NODES, row)
    set_index(tx, NODES, idx)


# ---------------------------------------------------------------------------------------------------- reads


def _rows(tx: Txn, ws: WatchSet | None, table: str, index: str, *args: str) -> list[dict[str, Any]]:
    if ws is None:
        return list(tx.get(table, index, *args))
    watch, it = tx.get_watch(table, index, *args)
    ws.add(watch)
    return list(it)


def nodes(tx: Txn, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
    return max_index(tx, NODES, ws=ws), _rows(tx, ws, NODES, "id")


def node_services(tx: Txn, node: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
    return max_index(tx, NODES, SERVICES, ws=ws), _rows(tx, ws, SERVICES, "node", node)


def service_nodes(tx: Txn, service: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
    index = max_index(tx, f"service.{service}", ws=ws) or max_index(tx, SERVICES, ws=ws)
    return index, _rows(tx, ws, SERVICES, "service", service)


def node_checks(tx: Txn, node: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
    return max_index(tx, CHECKS, ws=ws), _rows(tx, ws, CHECKS, "node", node)


def checks_in_state(tx: Txn, state: str, ws: WatchSet | None = None) -> tuple[int, list[dict[str, Any]]]:
    if state == "any":
        return max_index(tx, CHECKS, ws=ws), _rows(tx, ws, CHECKS, "id")
    return max_index(tx, CHECKS, ws=ws), _rows(tx, ws, CHECKS, "status", state)


def check_service_nodes(
    tx: Txn, service: str, ws: WatchSet | None = None, passing_only: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """Health of a service: one {Node, Service, Checks} per instance; checks are the node's own checks plus the
    instance's; `passing_only` drops instances with any non-passing check (Consul's ?passing)."""
    index = max_index(tx, f"service.{service}", NODES, ws=ws)
    out = []
    for svc in _rows(tx, ws, SERVICES, "service", service):
        node = tx.first(NODES, "id", svc["Node"])
        checks = [c for c in tx.get(CHECKS, "node", svc["Node"]) if c["ServiceID"] in ("", svc["ServiceID"])]
        if passing_only and any(c["Status"] != "passing" for c in checks):
            continue
        out.append({"Node": node, "Service": svc, "Checks": checks})
    return index, out
