"""/v1/status (leader, peers), /v1/operator/raft (configuration, remove peer) and /v1/agent (self, members):
what the cluster looks like from this server."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from aiohttp import web

from raftstore import __version__
from raftstore.agent.api import params
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter, ensure_consistency, meta_headers, query_options
from raftstore.agent.api.render import json_response
from raftstore.agent.core import VERSION
from raftstore.agent.errors import CommandRejected, InvalidRequest


async def status_leader(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    return json_response(core_of(request).backend.leader_address())


async def status_peers(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    _, servers = core_of(request).backend.raft_configuration()
    return json_response([s.address for s in servers if s.voter])


async def raft_configuration(request: web.Request) -> web.StreamResponse:
    opts = query_options(request)
    await ensure_consistency(request, opts)
    index, servers = core_of(request).backend.raft_configuration()
    body = {
        "Servers": [
            {
                "ID": s.id,
                "Node": s.node,
                "Address": s.address,
                "Leader": s.leader,
                "ProtocolVersion": "3",
                "Voter": s.voter,
            }
            for s in servers
        ],
        "Index": index,
    }
    return json_response(body, meta_headers(request, index, opts), pretty=opts.pretty)


async def raft_remove_peer(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    server_id = request.query.get("id") or None
    address = request.query.get("address") or None
    if server_id is None and address is None:
        raise InvalidRequest("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
    if server_id is not None and address is not None:
        raise InvalidRequest("Must specify only one of ?id or ?address")
    await core_of(request).backend.remove_peer(server_id=server_id, address=address)
    return web.Response(status=200)


async def raft_transfer_leader(request: web.Request) -> web.StreamResponse:
    """Hand leadership to another voter (``?id=`` names it; otherwise the backend picks). `leadership_transfer`
    is an optional member of the backend contract: a backend without it cannot transfer."""
    check_datacenter(request)
    backend = core_of(request).backend
    transfer = getattr(backend, "leadership_transfer", None)
    if transfer is None:
        raise CommandRejected("leadership transfer is not supported by this server's backend")
    if not backend.is_leader():
        await backend.verify_leader()  # NotLeaderError: forwarded to the leader, which transfers
    await transfer(request.query.get("id") or None)
    return json_response({"Success": True})


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


def _members(request: web.Request) -> list[dict[str, Any]]:
    backend = core_of(request).backend
    _, servers = backend.raft_configuration()
    out = []
    for server in servers:
        host, port = _host_port(server.address)
        out.append(
            {
                "Name": server.node,
                "Addr": host,
                "Port": port,
                "Tags": {
                    "role": "consul",
                    "dc": backend.datacenter,
                    "id": server.id,
                    "port": str(port),
                    "raft_vsn": "3",
                    "vsn": "2",
                    "build": f"{VERSION}:raftstore-{__version__}",
                    "voter": "1" if server.voter else "0",
                },
                "Status": 1,
                "ProtocolMin": 1,
                "ProtocolMax": 5,
                "ProtocolCur": 2,
                "DelegateMin": 2,
                "DelegateMax": 5,
                "DelegateCur": 4,
            }
        )
    return out


async def agent_members(request: web.Request) -> web.StreamResponse:
    members = _members(request)
    if params.flag(request.query, "wan"):  # the WAN pool names servers <node>.<datacenter>
        datacenter = core_of(request).backend.datacenter
        members = [{**m, "Name": f"{m['Name']}.{datacenter}"} for m in members]
    return json_response(members, pretty=params.flag(request.query, "pretty"))


async def agent_self(request: web.Request) -> web.StreamResponse:
    core = core_of(request)
    backend = core.backend
    config = core.config
    _, servers = backend.raft_configuration()
    me = next((s for s in servers if s.node == backend.node_name), None)
    member = next((m for m in _members(request) if m["Name"] == backend.node_name), None)
    stats = backend.stats()
    body = {
        "Config": {
            "Datacenter": backend.datacenter,
            "PrimaryDatacenter": backend.datacenter,
            "NodeName": backend.node_name,
            "NodeID": me.id if me else "",
            "Revision": f"raftstore-{__version__}",
            "Server": True,
            "Version": VERSION,
        },
        "DebugConfig": {
            "Datacenter": backend.datacenter,
            "NodeName": backend.node_name,
            "ServerMode": True,
            "DevMode": config.dev,
            "DataDir": config.data_dir or "",
            "HTTPAddrs": [f"{'https' if config.tls else 'tcp'}://{config.advertise_http or config.http_addr}"],
            "BootstrapExpect": config.bootstrap_expect,
            "RetryJoinLAN": list(config.retry_join),
        },
        "Coord": None,
        "Member": member,
        "Stats": {
            **stats,
            "consul": {
                "server": "true",
                "leader": "true" if backend.is_leader() else "false",
                "leader_addr": backend.leader_address(),
                "known_datacenters": "1",
                "bootstrap": "false",
            },
            "agent": {"check_monitors": "0", "checks": "0", "services": "0"},
            "runtime": {
                "arch": platform.machine(),
                "os": platform.system().lower(),
                "version": f"python{platform.python_version()}",
                "cpu_count": str(os.cpu_count() or 1),
            },
            "raftstore": {
                "version": __version__,
                "dev": "true" if config.dev else "false",
                "uptime": f"{time.time() - core.started_at:.0f}s",
                "tls": "true" if config.tls else "false",
                "token_required": "true" if config.token else "false",
            },
        },
        "Meta": {"consul-network-segment": ""},
        "xDS": None,
    }
    return json_response(body, pretty=params.flag(request.query, "pretty"))


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/status/leader", status_leader)
    app.router.add_route("GET", "/v1/status/peers", status_peers)
    app.router.add_route("GET", "/v1/operator/raft/configuration", raft_configuration)
    app.router.add_route("DELETE", "/v1/operator/raft/peer", raft_remove_peer)
    app.router.add_route("POST", "/v1/operator/raft/transfer-leader", raft_transfer_leader)
    app.router.add_route("GET", "/v1/agent/self", agent_self)
    app.router.add_route("GET", "/v1/agent/members", agent_members)
