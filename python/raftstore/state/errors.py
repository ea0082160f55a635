"""The state store's error types: one base class so callers (the FSM, the HTTP layer) can catch the layer's errors."""

from __future__ import annotations


class StateError(Exception):
    """A state-store operation was refused; the message is Consul's text where Consul has one."""


class InvalidRequestError(StateError):
    """A request is malformed or refers to something that does not exist (missing node, unknown session ...)."""
