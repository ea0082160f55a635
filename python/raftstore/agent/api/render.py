"""Consul's JSON shapes for the state store's records, and the JSON response itself.

Field order follows Consul's Go structs (clients do not care, people reading responses do). Values are what Go's
encoder writes: byte slices as base64, an empty value as null, nil slices as null.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from raftstore.state import DirEntry


def json_response(
    data: Any, headers: dict[str, str] | None = None, *, pretty: bool = False, status: int = 200
) -> web.Response:
    text = json.dumps(data, indent=4) if pretty else json.dumps(data, separators=(",", ":"))
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def kv_pair(entry: DirEntry | dict[str, Any]) -> dict[str, Any]:
    """A KVPair: Value base64 (null when empty); Session omitted when empty (``omitempty``)."""
    record = entry.to_record() if isinstance(entry, DirEntry) else entry
    value = record.get("Value")
    out: dict[str, Any] = {
        "LockIndex": record.get("LockIndex", 0),
        "Key": record.get("Key", ""),
        "Flags": record.get("Flags", 0),
        "Value": base64.b64encode(value).decode("ascii") if value else None,
    }
    if record.get("Session"):
        out["Session"] = record["Session"]
    out["CreateIndex"] = record.get("CreateIndex", 0)
    out["ModifyIndex"] = record.get("ModifyIndex", 0)
    return out


def node(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "ID": row.get("ID", ""),
        "Node": row["Node"],
        "Address": row.get("Address", ""),
        "Datacenter": row.get("Datacenter", ""),
        "TaggedAddresses": row.get("TaggedAddresses") or None,
        "Meta": row.get("Meta") or None,
        "CreateIndex": row.get("CreateIndex", 0),
        "ModifyIndex": row.get("ModifyIndex", 0),
    }


_WEIGHTS = {"Passing": 1, "Warning": 1}


def node_service(svc: dict[str, Any]) -> dict[str, Any]:
    """An AgentService/NodeService from a stored service row (Consul's flat ServiceNode)."""
    return {
        "Kind": svc.get("ServiceKind", ""),
        "ID": svc["ServiceID"],
        "Service": svc["ServiceName"],
        "Tags": svc.get("ServiceTags") or None,
        "Address": svc.get("ServiceAddress", ""),
        "Meta": svc.get("ServiceMeta") or None,
        "Port": svc.get("ServicePort", 0),
        "Weights": dict(_WEIGHTS),
        "EnableTagOverride": False,
        "CreateIndex": svc.get("CreateIndex", 0),
        "ModifyIndex": svc.get("ModifyIndex", 0),
    }


def catalog_service(svc: dict[str, Any], node_row: dict[str, Any] | None) -> dict[str, Any]:
    """A CatalogService: the node's fields, then the service's, prefixed."""
    node_row = node_row or {}
    return {
        "ID": node_row.get("ID", ""),
        "Node": svc["Node"],
        "Address": node_row.get("Address", svc.get("Address", "")),
        "Datacenter": node_row.get("Datacenter", ""),
        "TaggedAddresses": node_row.get("TaggedAddresses") or None,
        "NodeMeta": node_row.get("Meta") or None,
        "ServiceKind": svc.get("ServiceKind", ""),
        "ServiceID": svc["ServiceID"],
        "ServiceName": svc["ServiceName"],
        "ServiceTags": svc.get("ServiceTags") or [],
        "ServiceAddress": svc.get("ServiceAddress", ""),
        "ServiceTaggedAddresses": None,
        "ServiceWeights": dict(_WEIGHTS),
        "ServiceMeta": svc.get("ServiceMeta") or {},
        "ServicePort": svc.get("ServicePort", 0),
        "ServiceEnableTagOverride": False,
        "ServiceProxy": {},
        "CreateIndex": svc.get("CreateIndex", 0),
        "ModifyIndex": svc.get("ModifyIndex", 0),
    }


def health_check(check: dict[str, Any]) -> dict[str, Any]:
    return {
        "Node": check["Node"],
        "CheckID": check["CheckID"],
        "Name": check.get("Name", ""),
        "Status": check.get("Status", ""),
        "Notes": check.get("Notes", ""),
        "Output": check.get("Output", ""),
        "ServiceID": check.get("ServiceID", ""),
        "ServiceName": check.get("ServiceName", ""),
        "ServiceTags": check.get("ServiceTags") or [],
        "Type": check.get("Type", ""),
        "CreateIndex": check.get("CreateIndex", 0),
        "ModifyIndex": check.get("ModifyIndex", 0),
    }


def session(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": row["ID"],
        "Name": row.get("Name", ""),
        "Node": row.get("Node", ""),
        "LockDelay": row.get("LockDelay", 0),
        "Behavior": row.get("Behavior", "release"),
        "TTL": row.get("TTL", ""),
        "NodeChecks": row.get("NodeChecks") or None,
        "ServiceChecks": row.get("ServiceChecks") or None,
        "CreateIndex": row.get("CreateIndex", 0),
        "ModifyIndex": row.get("ModifyIndex", 0),
    }
