"""/v1/health: service/<name> (with ``?passing`` and ``?tag=``), node/<node>, checks/<service>, state/<state>."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from raftstore.agent.api import params, render
from raftstore.agent.api.catalog import connect, from_peer, meta_matches
from raftstore.agent.api.filter import Predicate, request_filter
from raftstore.agent.api.reads import run_read
from raftstore.agent.api.render import json_response
from raftstore.agent.errors import InvalidRequest
from raftstore.memdb import WatchSet
from raftstore.state import StateStore

_STATES = {"any", "passing", "warning", "critical"}


def _checks(rows: list[dict[str, Any]], selected: Predicate | None) -> list[dict[str, Any]]:
    checks = [render.health_check(c) for c in rows]
    return checks if selected is None else [c for c in checks if selected(c)]


def _service_health(
    store: StateStore,
    ws: WatchSet | None,
    name: str,
    passing: bool,
    tags: list[str],
    wanted: dict[str, str],
    selected: Predicate | None,
) -> tuple[int, list[dict[str, Any]]]:
    index, rows = store.check_service_nodes(name, ws, passing_only=passing)
    out = []
    for row in rows:
        svc = row["Service"]
        if tags and not all(tag in (svc.get("ServiceTags") or []) for tag in tags):
            continue
        if wanted and not meta_matches((row["Node"] or {}).get("Meta"), wanted):
            continue
        entry = {
            "Node": render.node(row["Node"]),
            "Service": render.node_service(svc),
            "Checks": [render.health_check(c) for c in row["Checks"]],
        }
        if selected is None or selected(entry):
            out.append(entry)
    return index, out


async def service(request: web.Request) -> web.StreamResponse:
    selected = request_filter(request.query)
    name = request.match_info["service"]
    if not name:
        raise InvalidRequest("Missing service name")
    query = request.query
    passing = params.flag(query, "passing") and query.get("passing", "").lower() not in ("0", "false")
    tags, wanted = params.tags(query), params.node_meta_filters(query)
    _, out, headers = await run_read(
        request, lambda s, ws: _service_health(s, ws, name, passing, tags, wanted, selected)
    )
    if from_peer(request):
        out = []
    return json_response(out, headers, pretty=params.flag(query, "pretty"))


async def node(request: web.Request) -> web.StreamResponse:
    name = request.match_info["node"]
    if not name:
        raise InvalidRequest("Missing node name")
    selected = request_filter(request.query)
    _, rows, headers = await run_read(request, lambda s, ws: s.node_checks(name, ws))
    return json_response(_checks(rows, selected), headers, pretty=params.flag(request.query, "pretty"))


async def checks(request: web.Request) -> web.StreamResponse:
    name = request.match_info["service"]
    if not name:
        raise InvalidRequest("Missing service name")

    selected = request_filter(request.query)

    def query(store: StateStore, ws: WatchSet | None) -> tuple[int, list[dict[str, Any]]]:
        index, rows = store.checks_in_state("any", ws)
        return index, _checks([c for c in rows if c.get("ServiceName") == name], selected)

    _, out, headers = await run_read(request, query)
    return json_response(out, headers, pretty=params.flag(request.query, "pretty"))


async def state(request: web.Request) -> web.StreamResponse:
    wanted_state = request.match_info["state"]
    if wanted_state not in _STATES:
        raise InvalidRequest(f"Invalid check state {wanted_state!r:.40}")
    selected = request_filter(request.query)
    _, rows, headers = await run_read(request, lambda s, ws: s.checks_in_state(wanted_state, ws))
    return json_response(_checks(rows, selected), headers, pretty=params.flag(request.query, "pretty"))


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/health/service/{service:.*}", service)
    app.router.add_route("GET", "/v1/health/connect/{service:.*}", connect)
    app.router.add_route("GET", "/v1/health/ingress/{service:.*}", connect)
    app.router.add_route("GET", "/v1/health/node/{node:.*}", node)
    app.router.add_route("GET", "/v1/health/checks/{service:.*}", checks)
    app.router.add_route("GET", "/v1/health/state/{state:.*}", state)
