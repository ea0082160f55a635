"""/v1/agent/service and /v1/agent/check: services and TTL checks on this agent's own node (see
`raftstore.agent.local`), plus the listings /v1/agent/services and /v1/agent/checks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from raftstore.agent.api import params, render
from raftstore.agent.api.body import WEIGHTS, ListOf, Struct, decode, read_body
from raftstore.agent.api.filter import request_filter
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.render import json_response
from raftstore.agent.errors import InvalidRequest, NotFound, TooLarge

_MAX_BODY = 512 * 1024

AGENT_CHECK = Struct(
    "CheckDefinition",
    {
        "ID": "str",
        "CheckID": "str",
        "Name": "str",
        "Notes": "str",
        "Status": "str",
        "Output": "str",
        "ServiceID": "str",
        "TTL": "str",
        **{
            probe: "any"
            for probe in (
                "Script",
                "Args",
                "HTTP",
                "Method",
                "Header",
                "TCP",
                "UDP",
                "GRPC",
                "H2PING",
                "DockerContainerID",
                "OSService",
                "AliasService",
                "AliasNode",
                "Interval",
                "Timeout",
                "DeregisterCriticalServiceAfter",
            )
        },
    },
)
AGENT_SERVICE = Struct(
    "AgentServiceRegistration",
    {
        "ID": "str",
        "Name": "str",
        "Tags": "strlist",
        "Address": "str",
        "Port": "uint",
        "Meta": "strmap",
        "Kind": "str",
        "EnableTagOverride": "bool",
        "Weights": WEIGHTS,
        "Check": AGENT_CHECK,
        "Checks": ListOf(AGENT_CHECK),
    },
)
CHECK_UPDATE = Struct("CheckUpdate", {"Status": "str", "Output": "str"})


async def _body(request: web.Request, spec: Struct) -> dict[str, Any]:
    data = await read_body(request, _MAX_BODY, lambda size: TooLarge(f"Request body({size} bytes) too large"))
    decoded = decode(data, spec, spec.name)
    if decoded is None:
        raise InvalidRequest("Request decode failed: empty body")
    return dict(decoded)


def _local(request: web.Request) -> Any:
    core = core_of(request)
    assert core.local is not None, "the agent core is not started"
    return core.local


async def service_register(request: web.Request) -> web.StreamResponse:
    await _local(request).register_service(await _body(request, AGENT_SERVICE))
    return web.Response(status=200)


async def service_deregister(request: web.Request) -> web.StreamResponse:
    await _local(request).deregister_service(request.match_info["id"])
    return web.Response(status=200)


def _own_services(request: web.Request) -> dict[str, dict[str, Any]]:
    """The services registered through this agent, as the catalog holds them now (the server's own "consul"
    service belongs to the cluster, not to the agent, as in Consul)."""
    backend = core_of(request).backend
    local = _local(request).services
    _, rows = backend.state.node_services(backend.node_name)
    services = {}
    for row in rows:
        if row["ServiceID"] not in local:
            continue
        service = render.node_service(row)
        service["Datacenter"] = backend.datacenter
        services[row["ServiceID"]] = service
    return services


async def services(request: web.Request) -> web.StreamResponse:
    selected = request_filter(request.query)
    out = {sid: svc for sid, svc in _own_services(request).items() if selected is None or selected(svc)}
    return json_response(out, pretty=params.flag(request.query, "pretty"))


async def service(request: web.Request) -> web.StreamResponse:
    found = _own_services(request).get(request.match_info["id"])
    if found is None:
        raise NotFound(f"unknown service ID: {request.match_info['id']}")
    return json_response(found, pretty=params.flag(request.query, "pretty"))


async def checks(request: web.Request) -> web.StreamResponse:
    """The checks registered through this agent (serfHealth is the cluster's, not the agent's)."""
    selected = request_filter(request.query)
    backend = core_of(request).backend
    local = _local(request).checks
    _, rows = backend.state.node_checks(backend.node_name)
    out = {row["CheckID"]: render.health_check(row) for row in rows if row["CheckID"] in local}
    out = {cid: check for cid, check in out.items() if selected is None or selected(check)}
    return json_response(out, pretty=params.flag(request.query, "pretty"))


async def check_register(request: web.Request) -> web.StreamResponse:
    await _local(request).register_check(await _body(request, AGENT_CHECK))
    return web.Response(status=200)


async def check_deregister(request: web.Request) -> web.StreamResponse:
    await _local(request).deregister_check(request.match_info["id"])
    return web.Response(status=200)


def _ttl_update(status: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        await _local(request).update(request.match_info["id"], status, request.query.get("note", ""))
        return web.Response(status=200)

    return handler


async def check_update(request: web.Request) -> web.StreamResponse:
    update = await _body(request, CHECK_UPDATE)
    await _local(request).update(request.match_info["id"], update.get("Status") or "", update.get("Output") or "")
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    app.router.add_route("PUT", "/v1/agent/service/register", service_register)
    app.router.add_route("PUT", "/v1/agent/service/deregister/{id:.+}", service_deregister)
    app.router.add_route("GET", "/v1/agent/services", services)
    app.router.add_route("GET", "/v1/agent/service/{id:.+}", service)
    app.router.add_route("GET", "/v1/agent/checks", checks)
    app.router.add_route("PUT", "/v1/agent/check/register", check_register)
    app.router.add_route("PUT", "/v1/agent/check/deregister/{id:.+}", check_deregister)
    app.router.add_route("PUT", "/v1/agent/check/pass/{id:.+}", _ttl_update("passing"))
    app.router.add_route("PUT", "/v1/agent/check/warn/{id:.+}", _ttl_update("warning"))
    app.router.add_route("PUT", "/v1/agent/check/fail/{id:.+}", _ttl_update("critical"))
    app.router.add_route("PUT", "/v1/agent/check/update/{id:.+}", check_update)
