"""The aiohttp application: routes of every endpoint family and the middleware that turns outcomes into Consul's
answers.

One middleware, in this order for each request: the token check (403), the handler, then the outcome:
`NotLeaderError` -> forward to the leader (or 500 "No cluster leader"), `NoLeaderError` -> 500, the agent's
errors -> their status with a text body, aiohttp's routing errors -> 404/405 text, anything else -> logged with
its traceback and answered 500 without details. Bad input therefore never crashes the server or leaks a traceback.
"""

from __future__ import annotations

import logging
import ssl

from aiohttp import web
from aiohttp.typedefs import Handler

from raftstore.agent.api import (
    agent_local,
    autopilot,
    autopilot_health,
    catalog,
    cluster,
    health,
    kv,
    session,
    snapshot,
    txn,
)
from raftstore.agent.api.auth import check_token
from raftstore.agent.api.errors import NO_LEADER, text_response
from raftstore.agent.api.forward import Forwarder
from raftstore.agent.api.keys import CORE, FORWARDER
from raftstore.agent.backend import BackendError, NoLeaderError, NotLeaderError
from raftstore.agent.core import AgentCore
from raftstore.agent.errors import AgentError
from raftstore.agent.logs import kv as kvlog

log = logging.getLogger("raftstore.agent.http")


@web.middleware
async def consul_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        check_token(request, request.app[CORE].config.token)
        response: web.StreamResponse = await handler(request)
        return response
    except NotLeaderError as error:
        return await request.app[FORWARDER].forward(request, error.leader_http)
    except NoLeaderError:
        return text_response(500, NO_LEADER)
    except AgentError as error:
        return text_response(error.status, str(error))
    except BackendError as error:
        return text_response(500, str(error) or "server error")
    except web.HTTPMethodNotAllowed as error:
        return text_response(
            405, f"method {request.method} not allowed", {"Allow": ",".join(sorted(error.allowed_methods))}
        )
    except web.HTTPNotFound:
        return text_response(404, "404 page not found")
    except web.HTTPException as error:
        if error.status >= 500:
            raise
        return text_response(error.status, error.text or error.reason)
    except Exception:
        log.exception(kvlog("request failed", method=request.method, path=request.path))
        return text_response(500, "internal error")


def make_app(core: AgentCore, *, forward_ssl: ssl.SSLContext | None = None) -> web.Application:
    """The HTTP API on `core`. `forward_ssl`: the client TLS context used to forward to the leader (HTTPS)."""
    app = web.Application(middlewares=[consul_errors], client_max_size=core.limits.txn_max_req_len + 1024)
    app[CORE] = core
    config = core.config
    app[FORWARDER] = Forwarder(
        scheme="https" if config.tls else "http",
        ssl_context=forward_ssl,
        read_timeout=config.max_query_time * 17 / 16 + 30,
    )
    for family in (kv, txn, session, catalog, health, cluster, agent_local, autopilot, autopilot_health, snapshot):
        family.add_routes(app)

    async def close_forwarder(app: web.Application) -> None:
        await app[FORWARDER].close()

    app.on_cleanup.append(close_forwarder)
    if core.local is not None:
        core.local.relay = app[FORWARDER].relay_writer(config.token)
    return app
