"""/v1/txn: up to 128 operations applied atomically (Consul's txn_endpoint.go).

The API's ops (``{"KV": {"Verb", "Key", "Value": base64, "Flags", "Index", "Session"}}``, Node, Service, Check,
Session) become the FSM's TxnOps. A transaction of reads only is answered locally under the request's
consistency mode, without a Raft write, as Consul's Txn.Read; anything else goes through Raft. Success is 200
``{"Results": [...], "Errors": null}``; a rolled-back transaction is 409 with its errors.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from raftstore.agent import commands
from raftstore.agent.api import params
from raftstore.agent.api.body import TXN_OPS, decode, read_body
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter, run_read
from raftstore.agent.api.render import json_response, kv_pair
from raftstore.agent.errors import InvalidRequest, TooLarge
from raftstore.state.txn import TxnAborted, txn_rw

_KV_READS = {"get", "get-tree", "check-index", "check-session", "check-not-exists", "get-or-empty"}
_KINDS = ("KV", "Node", "Service", "Check", "Session", "Intention")


def _fsm_op(op: dict[str, Any], number: int, max_value: int) -> dict[str, Any]:
    kinds = [kind for kind in _KINDS if op.get(kind) is not None]
    if len(kinds) != 1:
        raise InvalidRequest(f"Request decode failed: operation {number} must have exactly one of {', '.join(_KINDS)}")
    kind = kinds[0]
    body = op[kind]
    if kind == "KV":
        value = body.get("Value") or b""
        if len(value) > max_value:
            raise TooLarge(f"Value for key {body.get('Key', '')!r} is too large ({len(value)} > {max_value} bytes)")
        return {
            "KV": {
                "Verb": body.get("Verb") or "",
                "DirEnt": {
                    "Key": body.get("Key") or "",
                    "Value": value,
                    "Flags": body.get("Flags") or 0,
                    "Session": body.get("Session") or "",
                    "ModifyIndex": body.get("Index") or 0,
                },
            }
        }
    return {kind: body}


def _is_read(op: dict[str, Any]) -> bool:
    for kind in ("Node", "Service", "Check"):
        if kind in op:
            return bool(op[kind].get("Verb") == "get")
    return "KV" in op and op["KV"].get("Verb") in _KV_READS


def _render(results: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if results is None:
        return None
    return [{"KV": kv_pair(r["KV"])} if "KV" in r else r for r in results]


async def txn(request: web.Request) -> web.StreamResponse:
    core = core_of(request)
    check_datacenter(request)
    limits = core.limits
    data = await read_body(
        request,
        limits.txn_max_req_len,
        lambda size: TooLarge(
            f"Request body({size} bytes) too large, max size: {limits.txn_max_req_len} bytes. See "
            "https://developer.hashicorp.com/docs/agent/config/config-files#txn_max_req_len."
        ),
    )
    ops = decode(data, TXN_OPS, "TxnOps")
    if ops is None:
        raise InvalidRequest("Request decode failed: the body must be a JSON array of operations")
    if len(ops) > limits.txn_max_ops:
        raise TooLarge(f"Transaction contains too many operations ({len(ops)} > {limits.txn_max_ops})")
    fsm_ops = [_fsm_op(op or {}, n, limits.kv_max_value_size) for n, op in enumerate(ops)]
    pretty = params.flag(request.query, "pretty")
    if fsm_ops and all(_is_read(op) for op in fsm_ops):

        def read(store: Any, ws: Any) -> tuple[int, dict[str, Any]]:
            try:
                results = txn_rw(store.read(), 0, fsm_ops)
            except TxnAborted as aborted:
                return store.max_index(), {"Results": None, "Errors": aborted.errors}
            return store.max_index(), {"Results": results, "Errors": None}

        _, answer, headers = await run_read(request, read, blocking=False)
    else:
        answer, headers = await commands.txn(core.backend, fsm_ops, limits), {}
    status = 409 if answer.get("Errors") else 200
    return json_response(
        {"Results": _render(answer.get("Results")), "Errors": answer.get("Errors")},
        headers,
        pretty=pretty,
        status=status,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_route("PUT", "/v1/txn", txn)
