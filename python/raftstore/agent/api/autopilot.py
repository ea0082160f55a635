"""/v1/operator/autopilot/configuration: read and (CAS-)write autopilot's replicated configuration, as Consul's
operator_autopilot_endpoint.go. Before any write the answer is Consul's default configuration. (The health and
state endpoints need the autopilot runtime, which runs next to the Raft node.)"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from raftstore.agent.api import params
from raftstore.agent.api.body import Struct, decode, read_body
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter, run_read
from raftstore.agent.api.render import json_response
from raftstore.agent.commands import response_of
from raftstore.agent.errors import InvalidRequest, TooLarge
from raftstore.autopilot.config import AutopilotConfig, AutopilotConfigError, AutopilotSetConfigRequest
from raftstore.fsm import MessageType
from raftstore.memdb import WatchSet
from raftstore.state import StateStore

_FIELDS = (
    "CleanupDeadServers",
    "LastContactThreshold",
    "MaxTrailingLogs",
    "MinQuorum",
    "ServerStabilizationTime",
    "RedundancyZoneTag",
    "DisableUpgradeMigration",
    "UpgradeVersionTag",
    "CreateIndex",
    "ModifyIndex",
)
AUTOPILOT_CONFIGURATION = Struct("AutopilotConfiguration", dict.fromkeys(_FIELDS, "any"))
_MAX_BODY = 64 * 1024


def _configuration(store: StateStore, ws: WatchSet | None) -> tuple[int, dict[str, Any]]:
    index, config = store.autopilot_config(ws)
    return index, (config if config is not None else AutopilotConfig()).to_http()


async def get_configuration(request: web.Request) -> web.StreamResponse:
    _, body, headers = await run_read(request, _configuration, blocking=False)
    return json_response(body, headers, pretty=params.flag(request.query, "pretty"))


async def put_configuration(request: web.Request) -> web.StreamResponse:
    check_datacenter(request)
    core = core_of(request)
    data = await read_body(request, _MAX_BODY, lambda size: TooLarge(f"Request body({size} bytes) too large"))
    raw = decode(data, AUTOPILOT_CONFIGURATION, "AutopilotConfiguration")
    if raw is None:
        raise InvalidRequest("Request decode failed: empty body")
    cas = params.uint(request.query, "cas", "cas index")
    try:
        config = AutopilotConfig.from_http({key: value for key, value in raw.items() if value is not None})
        if cas is not None:
            config = AutopilotConfig.from_http({**config.to_http(), "ModifyIndex": cas})
    except AutopilotConfigError as error:
        raise InvalidRequest(f"Request decode failed: {error}") from None
    set_request = AutopilotSetConfigRequest(config=config, cas=cas is not None, datacenter=core.backend.datacenter)
    answer = response_of(await core.backend.apply(MessageType.AUTOPILOT, set_request.to_body()))
    return json_response(bool(answer) if cas is not None else True)


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/operator/autopilot/configuration", get_configuration)
    app.router.add_route("PUT", "/v1/operator/autopilot/configuration", put_configuration)
