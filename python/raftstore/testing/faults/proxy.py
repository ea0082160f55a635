"""A controllable TCP proxy for fault injection: one listener per link, forwarding to that link's target.

    with FaultProxy() as proxy:
        port = proxy.add_link("s1->s2", "127.0.0.1", s2_raft_port)   # s1 dials 127.0.0.1:port to reach s2
        proxy.partition("s1->s2")            # nothing flows either way; new connections wait
        proxy.partition("s1->s2", "forward") # one way: bytes from the dialler to the target are held
        proxy.set_delay("s1->s2", 0.05, jitter=0.02)
        proxy.set_drop("s1->s2", 0.01)       # each forwarded chunk closes the connection with this probability
        proxy.drop_connections("s1->s2")     # reset every open connection now
        proxy.heal()                         # every link back to normal

Why it models faults this way:
- A partition *holds* bytes rather than discarding them, like a firewall that drops packets: TCP retransmits, so
  within a connection nothing is lost or reordered; the sender stalls (back-pressure through a bounded queue) and
  either the partition heals and the bytes flow, or the application gives up on the connection (Raft's transport
  aborts a stalled link). Discarding bytes mid-stream would be a corruption no real network produces.
- A new connection on a partitioned link (either direction) is accepted but not connected to its target until the
  link heals, as a SYN lost in a partition leaves `connect` hanging.
- Delay applies per chunk and keeps order (a FIFO per direction); jitter never reorders.
- "forward" is the dialler-to-target direction, "backward" the replies. Raft's transport sends on outbound
  connections only, so one link per (source, destination) pair and "forward" are the natural unit.

The proxy runs its own asyncio loop in a daemon thread, so a test or the soak harness controls it from any thread;
every control call returns after the loop has applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Direction = Literal["forward", "backward"]
DIRECTIONS: tuple[Direction, Direction] = ("forward", "backward")
_CHUNK = 64 << 10
_QUEUE_CHUNKS = 256  # per direction and connection: ~16 MiB at most in flight before back-pressure
_T = TypeVar("_T")


class ProxyError(RuntimeError):
    """A control call named an unknown link or was made on a closed proxy."""


@dataclass
class LinkStats:
    """Counters of one link since it was added."""

    connections: int = 0
    open_connections: int = 0
    dropped_connections: int = 0
    bytes_forward: int = 0
    bytes_backward: int = 0


@dataclass
class _Link:
    name: str
    target: tuple[str, int]
    server: asyncio.Server | None = None
    blocked: dict[str, bool] = field(default_factory=lambda: {"forward": False, "backward": False})
    delay: float = 0.0
    jitter: float = 0.0
    drop: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    connections: set[_Connection] = field(default_factory=set)
    stats: LinkStats = field(default_factory=LinkStats)

    def notify(self) -> None:
        """Wake every sender waiting on this link's state (and arm a fresh event for the next change)."""
        self.changed.set()
        self.changed = asyncio.Event()

    @property
    def partitioned(self) -> bool:
        return self.blocked["forward"] or self.blocked["backward"]


class _Connection:
    """One accepted connection and its upstream connection; two pumps per direction (reader and sender)."""

    def __init__(self, link: _Link, rng: random.Random) -> None:
        self.link = link
        self.rng = rng
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in self.writers:
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()
        self.link.connections.discard(self)
        self.link.stats.open_connections = len(self.link.connections)

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = self.link
        self.writers.append(writer)
        try:
            while link.partitioned:  # a SYN lost in a partition: the dialler waits
                await link.changed.wait()
            up_reader, up_writer = await asyncio.open_connection(*link.target)
        except (OSError, asyncio.CancelledError):
            self.abort()
            return
        self.writers.append(up_writer)
        if self.closed:  # dropped while it waited for the heal or the connect
            up_writer.transport.abort()
            return
        pumps = (
            (reader, up_writer, "forward"),
            (up_reader, writer, "backward"),
        )
        for source, sink, direction in pumps:
            queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE_CHUNKS)
            self.tasks.append(asyncio.ensure_future(self._read(source, queue)))
            self.tasks.append(asyncio.ensure_future(self._send(queue, sink, direction)))
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.abort()

    async def _read(self, source: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await source.read(_CHUNK)
                link = self.link
                lag = link.delay + (self.rng.uniform(0, link.jitter) if link.jitter else 0.0)
                await queue.put((loop.time() + lag, data))
                if not data:
                    return
        except OSError:
            self.abort()

    async def _send(self, queue: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter, way: str) -> None:
        loop = asyncio.get_running_loop()
        link = self.link
        last_due = 0.0
        try:
            while True:
                due, data = await queue.get()
                due = max(due, last_due)  # jitter never reorders
                last_due = due
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                while link.blocked[way]:
                    await link.changed.wait()
                if not data:
                    if sink.can_write_eof():
                        sink.write_eof()
                    return
                if link.drop and self.rng.random() < link.drop:
                    link.stats.dropped_connections += 1
                    self.abort()
                    return
                sink.write(data)
                if way == "forward":
                    link.stats.bytes_forward += len(data)
                else:
                    link.stats.bytes_backward += len(data)
                await sink.drain()
        except OSError:
            self.abort()


class FaultProxy:
    """Links (listener -> target) with injectable faults; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", seed: int | None = None) -> None:
        self.host = host
        self._rng = random.Random(seed)
        self._links: dict[str, _Link] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._closed = False

    # ------------------------------------------------------------------------------------------ plumbing

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        if self._closed:
            coro.close()
            raise ProxyError("the proxy is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _link(self, name: str) -> _Link:
        link = self._links.get(name)
        if link is None:
            raise ProxyError(f"no link {name!r}")
        return link

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ links

    def add_link(self, name: str, target_host: str, target_port: int, listen_port: int = 0) -> int:
        """Listen for `name` (on `listen_port`, 0 for any free one) and forward to the target; returns the port."""

        async def add() -> int:
            if name in self._links:
                raise ProxyError(f"link {name!r} exists")
            link = _Link(name, (target_host, target_port))

            async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                connection = _Connection(link, random.Random(self._rng.random()))
                link.connections.add(connection)
                link.stats.connections += 1
                link.stats.open_connections = len(link.connections)
                await connection.run(reader, writer)

            link.server = await asyncio.start_server(accept, self.host, listen_port)
            self._links[name] = link
            port: int = link.server.sockets[0].getsockname()[1]
            return port

        return self._call(add())

    def links(self) -> list[str]:
        return list(self._links)

    def address(self, name: str) -> tuple[str, int]:
        """Where to dial to go through link `name`."""
        server = self._link(name).server
        assert server is not None
        port: int = server.sockets[0].getsockname()[1]
        return self.host, port

    def stats(self, name: str) -> LinkStats:
        async def read() -> LinkStats:
            s = self._link(name).stats
            return LinkStats(
                s.connections, s.open_connections, s.dropped_connections, s.bytes_forward, s.bytes_backward
            )

        return self._call(read())

    # ------------------------------------------------------------------------------------------ faults

    def _update(self, name: str | None, change: Any) -> None:
        async def apply() -> None:
            for link in [self._link(name)] if name is not None else list(self._links.values()):
                change(link)
                link.notify()

        self._call(apply())

    def partition(self, name: str, direction: Direction | None = None) -> None:
        """Hold the link's bytes both ways (`direction` None) or one way; new connections wait for the heal."""
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")

        def block(link: _Link) -> None:
            for way in DIRECTIONS if direction is None else (direction,):
                link.blocked[way] = True

        self._update(name, block)

    def set_delay(self, name: str, seconds: float, jitter: float = 0.0) -> None:
        """Add `seconds` (+ up to `jitter`) to every chunk, in order, for data read from now on."""
        if seconds < 0 or jitter < 0:
            raise ValueError("delay and jitter must be non-negative")

        def delay(link: _Link) -> None:
            link.delay, link.jitter = seconds, jitter

        self._update(name, delay)

    def set_drop(self, name: str, probability: float) -> None:
        """Each chunk forwarded on the link resets its connection with this probability."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be in [0, 1]")

        def drop(link: _Link) -> None:
            link.drop = probability

        self._update(name, drop)

    def drop_connections(self, name: str | None = None) -> int:
        """Reset every open connection of the link (of every link for None); returns how many."""

        async def drop() -> int:
            count = 0
            for link in [self._link(name)] if name is not None else list(self._links.values()):
                for connection in list(link.connections):
                    link.stats.dropped_connections += 1
                    connection.abort()
                    count += 1
            return count

        return self._call(drop())

    def heal(self, name: str | None = None) -> None:
        """Undo every fault of the link (of every link for None): no partition, no delay, no drop."""

        def heal(link: _Link) -> None:
            link.blocked = {"forward": False, "backward": False}
            link.delay = link.jitter = link.drop = 0.0

        self._update(name, heal)

    # ------------------------------------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Stop listening, reset every connection, stop the loop and its thread."""
        if self._closed:
            return

        async def shutdown() -> None:
            for link in self._links.values():
                if link.server is not None:
                    link.server.close()
                for connection in list(link.connections):
                    connection.abort()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._call(shutdown())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
