"""What the node needs from a transport, and factories for the two raftstore provides.

A factory is called on the node's loop thread with the node's id and message handler, so the transport is bound to
the loop that will drive it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, Protocol

from raftstore.raft.transport import InMemoryNetwork, Lane, TCPTransport
from raftstore.raft.transport.tcp import MessageHandler


class Transport(Protocol):
    address: str

    async def start(self) -> None: ...

    def send(self, address: str, kind: int, payload: bytes, lane: Lane = Lane.CONTROL) -> bool: ...

    async def close(self) -> None: ...


TransportFactory = Callable[[str, MessageHandler], Transport]


def tcp_transport(
    bind: str = "127.0.0.1:0",
    *,
    server_ssl: ssl.SSLContext | None = None,
    client_ssl: ssl.SSLContext | None = None,
    **options: Any,
) -> TransportFactory:
    """A factory for `TCPTransport` listening on `bind` (loopback by default; port 0 picks a free port)."""

    def make(local_id: str, on_message: MessageHandler) -> Transport:
        return TCPTransport(local_id, on_message, bind=bind, server_ssl=server_ssl, client_ssl=client_ssl, **options)

    return make


def memory_transport(network: InMemoryNetwork) -> TransportFactory:
    """A factory for an in-process transport on `network` (the server's address is its id)."""
    return network.transport
