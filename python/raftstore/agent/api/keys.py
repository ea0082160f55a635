"""Typed keys for what the aiohttp application carries (the agent core, the forwarding client)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from raftstore.agent.api.forward import Forwarder
    from raftstore.agent.core import AgentCore

CORE: web.AppKey[AgentCore] = web.AppKey("raftstore_core")
FORWARDER: web.AppKey[Forwarder] = web.AppKey("raftstore_forwarder")


def core_of(request: web.Request) -> AgentCore:
    return request.app[CORE]


def request_key(name: str) -> Any:
    """A key for per-request storage: aiohttp's typed `RequestKey` where it exists (3.13+), else the name."""
    factory = getattr(web, "RequestKey", None)
    return factory(name, object) if factory is not None else name
