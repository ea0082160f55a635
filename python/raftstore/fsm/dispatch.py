"""The FSM's dispatch table: which handler applies which message type (Consul's `registerCommand`).

Invariants, enforced here:
- A type has at most one handler: registering a second is a programming error, raised at registration, because two
  handlers for one type would make replicas depend on import order.
- An unknown type *with* the ignore flag is skipped with a warning (a newer server's optional command); an unknown
  type *without* it raises `UnknownCommandError` and the caller must stop applying: carrying on would let this
  replica's state diverge from the others' (Consul panics here for the same reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from raftstore.fsm.codec import split
from raftstore.fsm.messages import MessageType, type_name

log = logging.getLogger(__name__)

Handler = Callable[[memoryview, int], Any]
"""`handler(body, raft_index)`: applies one command whose msgpack body is `body`, at log index `raft_index`."""

_H = TypeVar("_H", bound=Handler)


class UnknownCommandError(RuntimeError):
    """A command of a type this server cannot apply, without the ignore flag: applying must stop."""


class CommandTable:
    """Handlers by message type; `apply` routes one command's bytes."""

    def __init__(self) -> None:
        self._handlers: dict[int, Handler] = {}

    def register(self, message_type: MessageType | int, handler: Handler) -> None:
        type_byte = int(message_type)
        if type_byte in self._handlers:
            raise ValueError(f"a handler for message type {type_name(type_byte)} is already registered")
        self._handlers[type_byte] = handler

    def handles(self, message_type: MessageType | int) -> Callable[[_H], _H]:
        """Decorator form of `register`."""

        def decorate(handler: _H) -> _H:
            self.register(message_type, handler)
            return handler

        return decorate

    def __contains__(self, message_type: object) -> bool:
        return message_type in self._handlers

    def apply(self, data: bytes | bytearray | memoryview, raft_index: int) -> Any:
        """Apply one command; returns the handler's response (None for a skipped unknown command)."""
        type_byte, ignore_unknown, body = split(data)
        handler = self._handlers.get(type_byte)
        if handler is None:
            if ignore_unknown:
                log.warning("ignoring command of unknown type %s at index %d", type_name(type_byte), raft_index)
                return None
            raise UnknownCommandError(
                f"cannot apply command of unknown type {type_name(type_byte)} at index {raft_index}: "
                "stopping rather than diverging from the other servers (is this server older than the cluster?)"
            )
        return handler(body, raft_index)
