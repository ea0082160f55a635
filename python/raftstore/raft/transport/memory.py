"""An in-process transport with the TCP transport's API, for tests and single-process clusters.

Frames are delivered on the event loop with `call_soon`, so delivery is asynchronous and FIFO per sender, as on a
real connection. The network can be partitioned (both ways or one way) and healed; a frame sent across a partition,
or to an unknown peer, is dropped silently, like a packet on a real network, and `send` still returns True.
"""

from __future__ import annotations

import asyncio

from raftstore.raft.transport.tcp import HELLO_KIND, Lane, MessageHandler


class InMemoryNetwork:
    """The wires between `InMemoryTransport`s, with partitions for fault tests."""

    def __init__(self) -> None:
        self._nodes: dict[str, InMemoryTransport] = {}
        self._blocked: set[tuple[str, str]] = set()

    def transport(self, local_id: str, on_message: MessageHandler) -> InMemoryTransport:
        if local_id in self._nodes:
            raise ValueError(f"a transport named {local_id!r} is already on this network")
        transport = InMemoryTransport(self, local_id, on_message)
        self._nodes[local_id] = transport
        return transport

    def partition(self, a: str, b: str, *, one_way: bool = False) -> None:
        """Drop frames from `a` to `b` (and from `b` to `a` unless `one_way`)."""
        self._blocked.add((a, b))
        if not one_way:
            self._blocked.add((b, a))

    def isolate(self, node: str) -> None:
        for other in self._nodes:
            if other != node:
                self.partition(node, other)

    def heal(self) -> None:
        self._blocked.clear()

    def _deliver(self, sender: str, target: str, kind: int, payload: bytes) -> None:
        node = self._nodes.get(target)
        if node is not None and node.started:
            node.on_message(sender, kind, payload)


class InMemoryTransport:
    """See the module docstring; `address` is the local id."""

    def __init__(self, network: InMemoryNetwork, local_id: str, on_message: MessageHandler) -> None:
        self.network = network
        self.local_id = local_id
        self.address = local_id
        self.on_message = on_message
        self.started = False

    async def start(self) -> None:
        self.started = True

    def send(self, address: str, kind: int, payload: bytes, lane: Lane = Lane.CONTROL) -> bool:
        if kind == HELLO_KIND:
            raise ValueError("kind 0 is reserved for the transport's hello")
        if not self.started:
            return False
        if (self.local_id, address) in self.network._blocked:
            return True  # lost on the wire: the sender cannot tell
        asyncio.get_running_loop().call_soon(self.network._deliver, self.local_id, address, kind, bytes(payload))
        return True

    def disconnect(self, address: str) -> None:
        """Nothing to close in memory; present for API parity with `TCPTransport`."""

    async def close(self) -> None:
        self.started = False
        self.network._nodes.pop(self.local_id, None)
