"""Raft's TCP transport: one-way framed streams between servers, built on asyncio protocols.

Model (etcd's rafthttp more than hashicorp's request/response NetworkTransport): Raft is message passing, so each
server keeps, per peer and per *lane*, one outbound connection on which it only writes, and accepts inbound ones on
which it only reads. A reply is just another message, sent back on the replier's own outbound link. This gives
pipelining for free (nothing waits for a response before the next append) and needs no request ids.

Lanes keep small urgent messages from queueing behind big ones: ``CONTROL`` carries votes, heartbeats,
TimeoutNow and every response; ``DATA`` carries appends with entries and snapshot chunks. A heartbeat therefore
never waits behind a 32 MiB append or a snapshot transfer on the same socket.

Hot path (`send` on a connected, unpaused link): one `transport.write` of the frame, no task and no copy beyond the
frame itself. A link queues frames only while it is connecting or while the socket is applying back-pressure
(asyncio's `pause_writing`), up to `max_queue_bytes`; past that `send` returns False and the frame is dropped:
Raft tolerates loss (the leader retries), while unbounded buffering toward a dead or frozen peer would not be.
A link whose socket has been stalled for `stall_timeout` is aborted and reconnected, so a frozen peer cannot pin
memory forever.

Robustness (the project's rule for bad input): a connection that sends a malformed or oversized frame, or does not
start with a valid hello, is closed with one log line; nothing else is affected.

TLS: pass `server_ssl` / `client_ssl` contexts (set `verify_mode = CERT_REQUIRED` on the server's for mutual
authentication).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from raftstore.raft.transport.framing import DEFAULT_MAX_FRAME, FrameDecoder, FrameError, encode_frame

log = logging.getLogger(__name__)

HELLO_KIND = 0
"""The first frame on every connection: msgpack ``{"id": sender id, "lane": lane name, "v": 1}``."""
PROTOCOL_VERSION = 1

MessageHandler = Callable[[str, int, bytes], None]
"""``handler(sender_id, kind, payload)``, called on the transport's event loop for every frame after the hello."""


class Lane(enum.Enum):
    CONTROL = "control"
    DATA = "data"


def parse_address(address: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` into a pair, with a clear error. Port 0 (bind any) only when allowed."""
    host, sep, port = address.rpartition(":")
    lowest = 0 if allow_port_zero else 1
    if not sep or not host or not port.isdigit() or not lowest <= int(port) < 65536:
        raise ValueError(f"address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


@dataclass
class LinkStats:
    frames_sent: int = 0
    frames_dropped: int = 0
    connects: int = 0
    connect_failures: int = 0


class _OutboundProtocol(asyncio.Protocol):
    def __init__(self, link: _Link) -> None:
        self.link = link
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        # May run before `create_connection` has returned to the link (a peer, or a proxy in front of a dead peer,
        # that resets at once): the link checks `lost` when it adopts the connection.
        self.lost = True
        self.link._lost(self)

    def pause_writing(self) -> None:
        self.link._pause()

    def resume_writing(self) -> None:
        self.link._resume()

    def data_received(self, data: bytes) -> None:
        """The peer never writes on our outbound connection; anything it sends is ignored."""


class _Link:
    """One outbound connection to (address, lane) with its bounded pending queue and reconnect loop."""

    def __init__(self, owner: TCPTransport, address: str, lane: Lane) -> None:
        self.owner = owner
        self.address = address
        self.lane = lane
        self.host, self.port = parse_address(address)
        self.transport: asyncio.Transport | None = None
        self.protocol: _OutboundProtocol | None = None
        self.paused = False
        self.pending: deque[bytes] = deque()
        self.pending_bytes = 0
        self.connecting: asyncio.Task[None] | None = None
        self.stall_timer: asyncio.TimerHandle | None = None
        self.stats = LinkStats()
        self.closed = False

    def send(self, frame: bytes) -> bool:
        if self.transport is not None and self.transport.is_closing():
            self._lost(self.protocol)  # closed under us without a connection_lost seen yet: reconnect
        if self.transport is not None and not self.paused and not self.pending:
            self.transport.write(frame)
            self.stats.frames_sent += 1
            return True
        if self.pending_bytes + len(frame) > self.owner.max_queue_bytes:
            self.stats.frames_dropped += 1
            return False
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        if self.transport is None:
            self._start_connecting()
        return True

    def _start_connecting(self) -> None:
        if self.closed or (self.connecting is not None and not self.connecting.done()):
            return
        self.connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.owner.min_backoff
        while not self.closed and self.pending:
            try:
                transport, protocol = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _OutboundProtocol(self),
                        self.host,
                        self.port,
                        ssl=self.owner.client_ssl,
                        server_hostname=self.owner.server_hostname or self.host if self.owner.client_ssl else None,
                    ),
                    self.owner.connect_timeout,
                )
            except (OSError, asyncio.TimeoutError, ssl.SSLError) as error:
                self.stats.connect_failures += 1
                if self.stats.connect_failures == 1 or self.stats.connect_failures % 100 == 0:
                    log.info("cannot connect to %s (%s lane): %s", self.address, self.lane.value, error)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.owner.max_backoff)
                continue
            if self.closed:
                transport.close()
                return
            if protocol.lost or transport.is_closing():  # reset before we could adopt it: a failed attempt
                self.stats.connect_failures += 1
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.owner.max_backoff)
                continue
            self.stats.connects += 1
            self.transport, self.protocol = transport, protocol
            hello = msgpack.packb({"id": self.owner.local_id, "lane": self.lane.value, "v": PROTOCOL_VERSION})
            transport.write(encode_frame(HELLO_KIND, hello))
            self._flush()
            return

    def _flush(self) -> None:
        while self.pending and self.transport is not None and not self.paused:
            frame = self.pending.popleft()
            self.pending_bytes -= len(frame)
            self.transport.write(frame)
            self.stats.frames_sent += 1

    def _pause(self) -> None:
        self.paused = True
        if self.stall_timer is None:
            self.stall_timer = asyncio.get_running_loop().call_later(self.owner.stall_timeout, self._stalled)

    def _resume(self) -> None:
        self.paused = False
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None
        self._flush()

    def _stalled(self) -> None:
        self.stall_timer = None
        if self.transport is not None and self.paused:
            log.warning("connection to %s (%s lane) stalled; reconnecting", self.address, self.lane.value)
            self.transport.abort()

    def _lost(self, protocol: _OutboundProtocol | None) -> None:
        if protocol is not self.protocol:
            return
        self.transport = self.protocol = None
        self.paused = False
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None
        if self.pending:
            self._start_connecting()

    def close(self) -> None:
        self.closed = True
        if self.connecting is not None:
            self.connecting.cancel()
        if self.stall_timer is not None:
            self.stall_timer.cancel()
        if self.transport is not None:
            self.transport.close()
        self.pending.clear()
        self.pending_bytes = 0


class _InboundProtocol(asyncio.Protocol):
    """Reads one peer's frames: a hello first, then messages handed to the transport's handler."""

    def __init__(self, owner: TCPTransport) -> None:
        self.owner = owner
        self.decoder = FrameDecoder(owner.max_frame)
        self.sender: str | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = str(transport.get_extra_info("peername"))
        self.owner._inbound.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._inbound.discard(self)

    def _refuse(self, reason: str) -> None:
        self.owner.rejected_connections += 1
        log.warning("closing Raft connection from %s: %s", self.peer, reason)
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        try:
            for kind, payload in self.decoder.feed(data):
                if self.sender is None:
                    self._hello(kind, payload)
                    if self.transport is None:
                        return
                    continue
                if kind == HELLO_KIND:
                    self._refuse("a second hello")
                    return
                try:
                    self.owner.on_message(self.sender, kind, payload)
                except Exception:  # a handler bug must not take the connection (or the loop) down
                    log.exception("Raft message handler failed on a frame of kind %d from %s", kind, self.sender)
        except FrameError as error:
            self._refuse(str(error))

    def _hello(self, kind: int, payload: bytes) -> None:
        if kind != HELLO_KIND:
            self._refuse(f"expected a hello frame first, got kind {kind}")
            return
        try:
            hello = msgpack.unpackb(payload, raw=False)
        except (ValueError, msgpack.UnpackException) as error:
            self._refuse(f"malformed hello: {error}")
            return
        if not isinstance(hello, dict) or not isinstance(hello.get("id"), str) or not hello["id"]:
            self._refuse("hello without a sender id")
            return
        if hello.get("v") != PROTOCOL_VERSION:
            self._refuse(f"unsupported protocol version {hello.get('v')!r}")
            return
        self.sender = hello["id"]


class TCPTransport:
    """See the module docstring. Create, `await start()`, then `send()` from the event loop's thread."""

    def __init__(
        self,
        local_id: str,
        on_message: MessageHandler,
        *,
        bind: str = "127.0.0.1:0",
        max_frame: int = DEFAULT_MAX_FRAME,
        max_queue_bytes: int = 64 << 20,
        connect_timeout: float = 5.0,
        stall_timeout: float = 10.0,
        min_backoff: float = 0.01,
        max_backoff: float = 1.0,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        dial_map: dict[str, str] | None = None,
    ) -> None:
        if not local_id:
            raise ValueError("local_id must be non-empty")
        self.local_id = local_id
        self.on_message = on_message
        self.bind_host, self.bind_port = parse_address(bind, allow_port_zero=True)
        self.max_frame = max_frame
        self.max_queue_bytes = max_queue_bytes
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.server_hostname = server_hostname
        self.address = ""
        self.rejected_connections = 0
        self.dial_map = dict(dial_map or {})
        """Peer address -> the address actually dialled (fault tests route every link through a proxy)."""
        self._server: asyncio.Server | None = None
        self._links: dict[tuple[str, Lane], _Link] = {}
        self._inbound: set[_InboundProtocol] = set()

    async def start(self) -> None:
        """Listen; `address` then holds the bound ``host:port`` (port 0 binds a free port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _InboundProtocol(self), self.bind_host, self.bind_port, ssl=self.server_ssl
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def send(self, address: str, kind: int, payload: bytes, lane: Lane = Lane.CONTROL) -> bool:
        """Queue one frame for the peer at `address`; False when it was dropped (queue full or transport closed)."""
        if kind == HELLO_KIND:
            raise ValueError("kind 0 is reserved for the transport's hello")
        if len(payload) + 1 > self.max_frame:
            raise ValueError(f"payload of {len(payload)} bytes exceeds the {self.max_frame}-byte frame limit")
        link = self._links.get((address, lane))
        if link is None:
            if self._server is None:
                return False
            link = self._links[(address, lane)] = _Link(self, self.dial_map.get(address, address), lane)
        return link.send(encode_frame(kind, payload))

    def link_stats(self) -> dict[tuple[str, str], LinkStats]:
        return {(address, lane.value): link.stats for (address, lane), link in self._links.items()}

    def disconnect(self, address: str) -> None:
        """Drop the links to a peer (for example when it leaves the configuration)."""
        for lane in Lane:
            link = self._links.pop((address, lane), None)
            if link is not None:
                link.close()

    async def close(self) -> None:
        """Stop listening, close every connection, cancel reconnects."""
        server, self._server = self._server, None
        for link in self._links.values():
            link.close()
        self._links.clear()
        for inbound in list(self._inbound):
            if inbound.transport is not None:
                inbound.transport.close()
        if server is not None:
            server.close()
            await server.wait_closed()
