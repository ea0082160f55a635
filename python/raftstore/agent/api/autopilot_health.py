"""/v1/operator/autopilot/health and /v1/operator/autopilot/state: autopilot's view of the servers, served by the
leader (a follower forwards, as Consul's do). Health answers 429 when the cluster is unhealthy, with the same body
(Consul's OperatorHealthReply); state is Consul's AutopilotState. Before autopilot's first round on a new leader
there is no state yet: 500 with a text error, as Consul answers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from raftstore.agent.api import params
from raftstore.agent.api.keys import core_of
from raftstore.agent.api.reads import check_datacenter
from raftstore.agent.api.render import json_response
from raftstore.autopilot import health_to_consul, state_to_consul


async def _state(request: web.Request) -> Any:
    check_datacenter(request)
    backend = core_of(request).backend
    if not backend.is_leader():
        await backend.verify_leader()  # raises NotLeaderError (forwarded) or NoLeaderError
    reader = getattr(backend, "autopilot_state", None)
    state = reader() if reader is not None else None
    if state is None:
        raise web.HTTPInternalServerError(text="autopilot has no state yet (it runs on the leader every 2 s)")
    return state


async def get_health(request: web.Request) -> web.StreamResponse:
    status, body = health_to_consul(await _state(request))
    return json_response(body, pretty=params.flag(request.query, "pretty"), status=status)


async def get_state(request: web.Request) -> web.StreamResponse:
    return json_response(state_to_consul(await _state(request)), pretty=params.flag(request.query, "pretty"))


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/operator/autopilot/health", get_health)
    app.router.add_route("GET", "/v1/operator/autopilot/state", get_state)
