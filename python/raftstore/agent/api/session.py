"""/v1/session: create, destroy, renew (writes) and info, list, node (blocking reads), as Consul's
session_endpoint.go. TTL sessions are expired by the leader (see `raftstore.agent.leader`)."""

from __future__ import annotations

from aiohttp import web

from raftstore.agent import commands
from raftstore.agent.api import params
from raftstore.agent.api.body import SESSION_REQUEST, decode, read_body
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter, run_read
from raftstore.agent.api.render import json_response, session
from raftstore.agent.errors import InvalidRequest, TooLarge

_MAX_BODY = 64 * 1024


def _too_large(size: int) -> TooLarge:
    return TooLarge(f"Request body({size} bytes) too large, max size: {_MAX_BODY} bytes")


async def create(request: web.Request) -> web.StreamResponse:
    core = core_of(request)
    check_datacenter(request)
    spec = decode(await read_body(request, _MAX_BODY, _too_large), SESSION_REQUEST, "Session") or {}
    session_id = await commands.session_create(core.backend, spec, core.node_name, core.limits)
    return json_response({"ID": session_id}, pretty=params.flag(request.query, "pretty"))


def _session_id(request: web.Request) -> str:
    session_id = request.match_info["id"]
    if not session_id:
        raise InvalidRequest("Missing session")
    return session_id


async def destroy(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    await commands.session_destroy(core_of(request).backend, _session_id(request))
    return json_response(True)


async def renew(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    renewed = await core_of(request).renew_session(_session_id(request))
    return json_response([session(renewed)], pretty=params.flag(request.query, "pretty"))


async def info(request: web.Request) -> web.StreamResponse:
    session_id = _session_id(request)
    _, found, headers = await run_read(request, lambda s, ws: s.session_get(session_id, ws))
    return json_response([session(found)] if found else [], headers, pretty=params.flag(request.query, "pretty"))


async def list_all(request: web.Request) -> web.StreamResponse:
    _, rows, headers = await run_read(request, lambda s, ws: s.session_list(ws))
    return json_response([session(r) for r in rows], headers, pretty=params.flag(request.query, "pretty"))


async def node(request: web.Request) -> web.StreamResponse:
    name = request.match_info["node"]
    if not name:
        raise InvalidRequest("Missing node name")
    _, rows, headers = await run_read(request, lambda s, ws: s.node_sessions(name, ws))
    return json_response([session(r) for r in rows], headers, pretty=params.flag(request.query, "pretty"))


def add_routes(app: web.Application) -> None:
    app.router.add_route("PUT", "/v1/session/create", create)
    app.router.add_route("PUT", "/v1/session/destroy/{id:.*}", destroy)
    app.router.add_route("PUT", "/v1/session/renew/{id:.*}", renew)
    app.router.add_route("GET", "/v1/session/info/{id:.*}", info)
    app.router.add_route("GET", "/v1/session/list", list_all)
    app.router.add_route("GET", "/v1/session/node/{node:.*}", node)
