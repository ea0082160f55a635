"""/v1/catalog: register, deregister (writes) and nodes, services, service/<name>, node/<node>, connect/<name>,
datacenters (reads, blocking where Consul's are), with Consul's ``?tag=``, ``?node-meta=key:value`` and
``?filter=`` (see `raftstore.agent.api.filter`) selections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from raftstore.agent import commands
from raftstore.agent.api import params, render
from raftstore.agent.api.body import DEREGISTER_REQUEST, REGISTER_REQUEST, decode, read_body
from raftstore.agent.api.filter import Predicate, request_filter
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter, run_read
from raftstore.agent.api.render import json_response
from raftstore.agent.errors import InvalidRequest, TooLarge
from raftstore.memdb import WatchSet
from raftstore.state import StateStore
from raftstore.state.indextable import max_index
from raftstore.state.schema import NODES, SERVICES

_MAX_BODY = 512 * 1024


def _too_large(size: int) -> TooLarge:
    return TooLarge(f"Request body({size} bytes) too large, max size: {_MAX_BODY} bytes")


def from_peer(request: web.Request) -> bool:
    """``?peer=NAME``: raftstore has no cluster peerings, so a query for a peer's services finds none."""
    return bool(request.query.get("peer"))


def meta_matches(meta: Mapping[str, str] | None, wanted: dict[str, str]) -> bool:
    meta = meta or {}
    return all(meta.get(key) == value for key, value in wanted.items())


async def register(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    req = decode(await read_body(request, _MAX_BODY, _too_large), REGISTER_REQUEST, "RegisterRequest")
    if req is None:
        raise InvalidRequest("Request decode failed: empty body")
    await commands.register(core_of(request).backend, req)
    return json_response(True)


async def deregister(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    req = decode(await read_body(request, _MAX_BODY, _too_large), DEREGISTER_REQUEST, "DeregisterRequest")
    if req is None:
        raise InvalidRequest("Request decode failed: empty body")
    await commands.deregister(core_of(request).backend, req)
    return json_response(True)


async def nodes(request: web.Request) -> web.StreamResponse:
    selected = request_filter(request.query)
    wanted = params.node_meta_filters(request.query)
    _, rows, headers = await run_read(request, lambda s, ws: s.nodes(ws))
    out = [render.node(r) for r in rows if meta_matches(r.get("Meta"), wanted)]
    if selected is not None:
        out = [n for n in out if selected(n)]
    return json_response(out, headers, pretty=params.flag(request.query, "pretty"))


def _services(
    store: StateStore, ws: WatchSet | None, wanted: dict[str, str], selected: Predicate | None
) -> tuple[int, dict[str, list[str]]]:
    tx = store.read()
    index = max_index(tx, SERVICES, NODES if wanted else SERVICES, ws=ws)
    if ws is not None:
        watch, rows = tx.get_watch(SERVICES, "id")
        ws.add(watch)
    else:
        rows = tx.get(SERVICES, "id")
    out: dict[str, list[str]] = {}
    for row in rows:
        node_row = tx.first(NODES, "id", row["Node"]) if wanted or selected else None
        if wanted and not meta_matches((node_row or {}).get("Meta"), wanted):
            continue
        if selected is not None and not selected(render.catalog_service(row, node_row)):
            continue
        tags = out.setdefault(row["ServiceName"], [])
        for tag in row.get("ServiceTags") or []:
            if tag not in tags:
                tags.append(tag)
    return index, out


async def services(request: web.Request) -> web.StreamResponse:
    selected = request_filter(request.query)
    wanted = params.node_meta_filters(request.query)
    _, out, headers = await run_read(request, lambda s, ws: _services(s, ws, wanted, selected))
    return json_response(out, headers, pretty=params.flag(request.query, "pretty"))


def service_rows(
    store: StateStore,
    ws: WatchSet | None,
    name: str,
    tags: list[str],
    wanted: dict[str, str],
    selected: Predicate | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    index, rows = store.service_nodes(name, ws)
    tx = store.read()
    out = []
    for row in rows:
        if tags and not all(tag in (row.get("ServiceTags") or []) for tag in tags):
            continue
        node_row = tx.first(NODES, "id", row["Node"])
        if wanted and not meta_matches((node_row or {}).get("Meta"), wanted):
            continue
        rendered = render.catalog_service(row, node_row)
        if selected is None or selected(rendered):
            out.append(rendered)
    return index, out


async def service(request: web.Request) -> web.StreamResponse:
    selected = request_filter(request.query)
    name = request.match_info["service"]
    if not name:
        raise InvalidRequest("Missing service name")
    tags, wanted = params.tags(request.query), params.node_meta_filters(request.query)
    peer = from_peer(request)
    _, out, headers = await run_read(request, lambda s, ws: service_rows(s, ws, name, tags, wanted, selected))
    if peer:
        out = []
    return json_response(out, headers, pretty=params.flag(request.query, "pretty"))


def _node_services(
    store: StateStore, ws: WatchSet | None, name: str, selected: Predicate | None
) -> tuple[int, dict[str, Any] | None]:
    tx = store.read()
    if ws is not None:
        watch, row = tx.first_watch(NODES, "id", name)
        ws.add(watch)
    else:
        row = tx.first(NODES, "id", name)
    index, rows = store.node_services(name, ws)
    if row is None:
        return index, None
    services = {r["ServiceID"]: render.node_service(r) for r in rows}
    if selected is not None:  # Consul filters the entries of the Services map, not the whole document
        services = {sid: svc for sid, svc in services.items() if selected(svc)}
    return index, {"Node": render.node(row), "Services": services}


async def node(request: web.Request) -> web.StreamResponse:
    selected = request_filter(request.query)
    name = request.match_info["node"]
    if not name:
        raise InvalidRequest("Missing node name")
    _, out, headers = await run_read(request, lambda s, ws: _node_services(s, ws, name, selected))
    return json_response(out, headers, pretty=params.flag(request.query, "pretty"))


async def connect(request: web.Request) -> web.StreamResponse:
    """Connect-capable instances of a service: raftstore's catalog stores no Connect proxies or native services,
    so the answer is always empty (with the service's index, so blocking clients work)."""
    request_filter(request.query)  # a malformed expression is still a 400
    name = request.match_info["service"]
    _, _, headers = await run_read(request, lambda s, ws: s.service_nodes(name, ws))
    return json_response([], headers)


async def datacenters(request: web.Request) -> web.StreamResponse:
    return json_response([core_of(request).backend.datacenter])


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/catalog/datacenters", datacenters)
    app.router.add_route("GET", "/v1/catalog/connect/{service:.*}", connect)
    app.router.add_route("PUT", "/v1/catalog/register", register)
    app.router.add_route("PUT", "/v1/catalog/deregister", deregister)
    app.router.add_route("GET", "/v1/catalog/nodes", nodes)
    app.router.add_route("GET", "/v1/catalog/services", services)
    app.router.add_route("GET", "/v1/catalog/service/{service:.*}", service)
    app.router.add_route("GET", "/v1/catalog/node/{node:.*}", node)
