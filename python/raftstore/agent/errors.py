"""The agent's error types: what the HTTP layer turns into status codes and the embedding API raises as is.

One class per answer a client can act on, so the HTTP mapping lives in one place (`raftstore.agent.api.errors`)
and an embedding application can catch exactly what it expects. Backend failures (`NotLeaderError`,
`NoLeaderError`, `BackendError`) come from `raftstore.agent.backend` and keep their own types.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of the agent's request errors; the message is meant for the client."""

    status = 500


class InvalidRequest(AgentError):
    """Malformed or contradictory input (HTTP 400)."""

    status = 400


class PermissionDenied(AgentError):
    """A protected operation without the right token (HTTP 403)."""

    status = 403


class NotFound(AgentError):
    """The named object does not exist where Consul answers 404 (HTTP 404)."""

    status = 404


class TooLarge(AgentError):
    """A body, value or transaction over Consul's limits (HTTP 413)."""

    status = 413


class CommandRejected(AgentError):
    """The state store refused a well-formed command (missing node, unknown session ...); Consul answers 500."""

    status = 500


class NoPathToDatacenter(AgentError):
    """A request for a datacenter other than this cluster's (Consul answers 500 "No path to datacenter")."""

    status = 500

    def __init__(self, datacenter: str) -> None:
        super().__init__("No path to datacenter")
        self.datacenter = datacenter
