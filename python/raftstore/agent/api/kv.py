"""/v1/kv: Consul's KV endpoint (GET with recurse / keys / separator / raw; PUT with flags / cas / acquire /
release; DELETE with recurse / cas)."""

from __future__ import annotations

from aiohttp import web

from raftstore.agent import commands
from raftstore.agent.api import params
from raftstore.agent.api.body import read_body
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter, query_options, run_read
from raftstore.agent.api.render import json_response, kv_pair
from raftstore.agent.errors import InvalidRequest


async def kv_get(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    query = request.query
    pretty = params.flag(query, "pretty")
    if params.flag(query, "keys"):
        separator = query.get("separator", query.get("seperator", ""))
        _, keys, headers = await run_read(request, lambda s, ws: s.kvs_list_keys(key, separator, ws))
        if not keys and key:
            return web.Response(status=404, headers=headers)
        return json_response(keys, headers, pretty=pretty)
    if params.flag(query, "recurse"):
        _, entries, headers = await run_read(request, lambda s, ws: s.kvs_list(key, ws))
        if not entries:
            return web.Response(status=404, headers=headers)
        return json_response([kv_pair(e) for e in entries], headers, pretty=pretty)
    if not key:
        query_options(request)  # a bad parameter is reported before the missing key, as Consul parses first
        raise InvalidRequest("Missing key name")
    _, entry, headers = await run_read(request, lambda s, ws: s.kvs_get(key, ws))
    if entry is None:
        return web.Response(status=404, headers=headers)
    if params.flag(query, "raw"):
        headers.update({"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})
        return web.Response(body=entry.Value, headers=headers, content_type="text/plain")
    return json_response([kv_pair(entry)], headers, pretty=pretty)


async def kv_put(request: web.Request) -> web.StreamResponse:
    core = core_of(request)
    key = request.match_info["key"]
    query = request.query
    check_datacenter(request)
    if not key:
        raise InvalidRequest("Missing key name")
    flags = params.uint(query, "flags", "flags") or 0
    cas = params.uint(query, "cas", "cas index")
    acquire = query.get("acquire")
    release = query.get("release")
    for name, session in (("acquire", acquire), ("release", release)):
        if session is not None and not session:
            raise InvalidRequest(f"Missing session for ?{name}")
    limit = core.limits.kv_max_value_size
    value = await read_body(request, limit, lambda size: commands.value_too_large(size, limit))
    ok = await commands.kv_put(
        core.backend, key, value, flags=flags, cas=cas, acquire=acquire, release=release, limits=core.limits
    )
    return json_response(ok)


async def kv_delete(request: web.Request) -> web.StreamResponse:
    core = core_of(request)
    key = request.match_info["key"]
    check_datacenter(request)
    ok = await commands.kv_delete(
        core.backend,
        key,
        recurse=params.flag(request.query, "recurse"),
        cas=params.uint(request.query, "cas", "cas index"),
    )
    return json_response(ok)


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/kv/{key:.*}", kv_get)
    app.router.add_route("PUT", "/v1/kv/{key:.*}", kv_put)
    app.router.add_route("DELETE", "/v1/kv/{key:.*}", kv_delete)
