"""Raft transports: framing, delivery and ordering over TCP, lanes, reconnects, bounded queues, bad peers, TLS."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.raft.transport import (
    FrameDecoder,
    FrameError,
    InMemoryNetwork,
    Lane,
    TCPTransport,
    encode_frame,
    parse_address,
)
from raftstore.testing.pki import make_pki

pytestmark = pytest.mark.pure_python

DEADLINE = 30.0  # generous: a loaded 2-core machine


def run(coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine(), 120))


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Inbox:
    def __init__(self) -> None:
        self.frames: list[tuple[str, int, bytes]] = []

    def __call__(self, sender: str, kind: int, payload: bytes) -> None:
        self.frames.append((sender, kind, payload))


# ---- framing --------------------------------------------------------------------------------------------------


def test_frame_round_trip_and_partial_feeds() -> None:
    frames = [(1, b""), (2, b"x"), (255, bytes(range(256)) * 100)]
    stream = b"".join(encode_frame(kind, payload) for kind, payload in frames)
    decoder = FrameDecoder()
    got = [frame for i in range(len(stream)) for frame in decoder.feed(stream[i : i + 1])]
    assert got == frames and decoder.buffered == 0
    assert list(FrameDecoder().feed(stream)) == frames


@given(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=200)), max_size=20), st.data())
def test_any_split_of_a_stream_decodes_the_same(frames: list[tuple[int, bytes]], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(kind, payload) for kind, payload in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got.extend(decoder.feed(stream[start:end]))
    assert got == frames


def test_framing_errors() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        list(FrameDecoder(max_frame=100).feed(struct.pack(">IB", 101, 1)))
    with pytest.raises(FrameError, match="length 0"):
        list(FrameDecoder().feed(b"\0\0\0\0\1"))
    with pytest.raises(ValueError, match="one byte"):
        encode_frame(256, b"")


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8300") == ("127.0.0.1", 8300)
    assert parse_address("[::1]:8300") == ("::1", 8300)
    assert parse_address("localhost:0", allow_port_zero=True) == ("localhost", 0)
    for bad in ["", "host", ":80", "host:", "host:0", "host:70000", "host:x"]:
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)


# ---- TCP ------------------------------------------------------------------------------------------------------


async def pair(**options: Any) -> tuple[TCPTransport, TCPTransport, Inbox, Inbox]:
    inbox_a, inbox_b = Inbox(), Inbox()
    a = TCPTransport("a", inbox_a, **options)
    b = TCPTransport("b", inbox_b, **options)
    await a.start()
    await b.start()
    return a, b, inbox_a, inbox_b


def test_messages_flow_both_ways_in_order_per_lane() -> None:
    async def body() -> None:
        a, b, inbox_a, inbox_b = await pair()
        try:
            for i in range(500):
                assert a.send(b.address, 1, b"c%d" % i, Lane.CONTROL)
                assert a.send(b.address, 2, b"d%d" % i, Lane.DATA)
                assert b.send(a.address, 3, b"r%d" % i)
            await until(lambda: len(inbox_b.frames) == 1000 and len(inbox_a.frames) == 500, "all frames")
            assert {sender for sender, _, _ in inbox_b.frames} == {"a"}
            assert [p for _, k, p in inbox_b.frames if k == 1] == [b"c%d" % i for i in range(500)]
            assert [p for _, k, p in inbox_b.frames if k == 2] == [b"d%d" % i for i in range(500)]
            assert [p for _, _, p in inbox_a.frames] == [b"r%d" % i for i in range(500)]
        finally:
            await a.close()
            await b.close()

    run(body)


def test_control_lane_is_not_queued_behind_a_large_append() -> None:
    async def body() -> None:
        a, b, _, inbox_b = await pair()
        try:
            a.send(b.address, 1, b"warm", Lane.CONTROL)
            a.send(b.address, 2, b"warm", Lane.DATA)
            await until(lambda: len(inbox_b.frames) == 2, "both lanes connected")
            a.send(b.address, 2, b"x" * (48 << 20), Lane.DATA)
            a.send(b.address, 1, b"heartbeat", Lane.CONTROL)
            await until(lambda: len(inbox_b.frames) == 4, "both frames")
            assert [p[:9] for _, _, p in inbox_b.frames[2:]] == [b"heartbeat", b"xxxxxxxxx"]
        finally:
            await a.close()
            await b.close()

    run(body)


def test_payload_over_the_frame_limit_is_refused_at_send() -> None:
    async def body() -> None:
        a, b, _, _ = await pair(max_frame=1000)
        try:
            with pytest.raises(ValueError, match="frame limit"):
                a.send(b.address, 1, b"x" * 1000)
            with pytest.raises(ValueError, match="reserved"):
                a.send(b.address, 0, b"")
        finally:
            await a.close()
            await b.close()

    run(body)


async def raw_connect(address: str, data: bytes) -> bytes:
    """Send raw bytes to a transport and return what it answers before closing (it never answers)."""
    host, port = parse_address(address)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE)
    finally:
        writer.close()


HELLO = encode_frame(0, msgpack.packb({"id": "x", "lane": "control", "v": 1}))


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # a wrong client: a huge "length"
        encode_frame(1, b"not a hello"),
        encode_frame(0, b"\xc1"),
        encode_frame(0, msgpack.packb({"lane": "control", "v": 1})),
        encode_frame(0, msgpack.packb({"id": "x", "v": 99})),
        HELLO + HELLO,
        HELLO + b"\0\0\0\0\1",
        HELLO + struct.pack(">IB", (64 << 20) + 2, 1),
    ],
)
def test_bad_peers_are_cut_off_and_nothing_else_is_affected(garbage: bytes) -> None:
    async def body() -> None:
        a, b, _, inbox_b = await pair()
        try:
            assert await raw_connect(b.address, garbage) == b""  # closed by the server
            assert b.rejected_connections == 1
            a.send(b.address, 1, b"still works")
            await until(lambda: len(inbox_b.frames) == 1, "a good frame after a bad peer")
        finally:
            await a.close()
            await b.close()

    run(body)


def test_handler_exceptions_do_not_close_the_connection() -> None:
    async def body() -> None:
        got: list[bytes] = []

        def flaky(sender: str, kind: int, payload: bytes) -> None:
            if payload == b"boom":
                raise RuntimeError("handler bug")
            got.append(payload)

        a = TCPTransport("a", Inbox())
        b = TCPTransport("b", flaky)
        await a.start()
        await b.start()
        try:
            for payload in (b"1", b"boom", b"2"):
                a.send(b.address, 1, payload)
            await until(lambda: got == [b"1", b"2"], "frames around a failing one")
            assert b.rejected_connections == 0
        finally:
            await a.close()
            await b.close()

    run(body)


def test_reconnects_after_the_peer_restarts_and_delivers_what_was_queued() -> None:
    async def body() -> None:
        inbox = Inbox()
        a = TCPTransport("a", Inbox(), min_backoff=0.01, max_backoff=0.05)
        b = TCPTransport("b", inbox)
        await a.start()
        await b.start()
        address = b.address
        try:
            a.send(address, 1, b"before")
            await until(lambda: len(inbox.frames) == 1, "first frame")
            await b.close()
            # The link notices the closed connection; frames sent now wait in its queue while it reconnects.
            await until(lambda: next(iter(a._links.values())).transport is None, "the link to notice the close")
            for i in range(5):
                assert a.send(address, 1, b"queued %d" % i)
            await asyncio.sleep(0.1)  # let a few connection attempts fail (not an assertion on timing)
            b2 = TCPTransport("b", inbox, bind=address)
            await b2.start()
            try:
                await until(lambda: len(inbox.frames) == 6, "queued frames after the restart")
                assert [p for _, _, p in inbox.frames[1:]] == [b"queued %d" % i for i in range(5)]
                stats = a.link_stats()[(address, "control")]
                assert stats.connects == 2 and stats.connect_failures >= 1
            finally:
                await b2.close()
        finally:
            await a.close()

    run(body)


def test_queue_toward_an_absent_peer_is_bounded() -> None:
    async def body() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{probe.getsockname()[1]}"
        a = TCPTransport("a", Inbox(), max_queue_bytes=10_000, min_backoff=0.01, max_backoff=0.02)
        await a.start()
        try:
            accepted = [a.send(address, 1, b"x" * 995) for _ in range(20)]  # 1000-byte frames
            assert accepted == [True] * 10 + [False] * 10
            assert a.link_stats()[(address, "control")].frames_dropped == 10
        finally:
            await a.close()

    run(body)


def test_a_frozen_peer_is_reconnected_after_the_stall_timeout() -> None:
    async def body() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # holds the connection open and never reads: the peer is frozen

        server = await asyncio.start_server(never_read, "127.0.0.1", 0)
        address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        a = TCPTransport("a", Inbox(), stall_timeout=0.3, max_queue_bytes=256 << 20)
        await a.start()
        try:
            chunk = b"x" * (1 << 20)
            for _ in range(64):  # far more than the socket buffers hold: the link pauses
                a.send(address, 2, chunk, Lane.DATA)

            # The server and the link see the new connection in two tasks of one loop, in either order under load:
            # wait for both, the link's own count being what the stall timeout must produce.
            def reconnected() -> bool:
                stats = a.link_stats().get((address, "data"))
                return stats is not None and stats.connects >= 2 and len(accepted) >= 2

            await until(reconnected, "a reconnect after the stall")
        finally:
            await a.close()
            for writer in accepted:
                writer.close()
            server.close()
            await server.wait_closed()

    run(body)


def test_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)

    async def body() -> None:
        inbox = Inbox()
        server = TCPTransport("b", inbox, server_ssl=pki.server_context(), client_ssl=pki.client_context())
        good = TCPTransport("a", Inbox(), server_ssl=pki.server_context(), client_ssl=pki.client_context())
        no_cert = TCPTransport(
            "c", Inbox(), client_ssl=pki.client_context(with_cert=False), min_backoff=0.01, max_backoff=0.02
        )
        plain = TCPTransport("d", Inbox(), min_backoff=0.01, max_backoff=0.02)
        for transport in (server, good, no_cert, plain):
            await transport.start()
        try:
            no_cert.send(server.address, 1, b"from a client without a certificate")
            plain.send(server.address, 1, b"from a client without TLS")
            good.send(server.address, 1, b"authenticated")
            await until(lambda: len(inbox.frames) == 1, "the authenticated frame")
            await until(
                lambda: (
                    no_cert.link_stats()[(server.address, "control")].connects
                    + no_cert.link_stats()[(server.address, "control")].connect_failures
                    >= 1
                ),
                "the unauthenticated client's attempt",
            )
            await asyncio.sleep(0.2)  # give refused frames every chance to (wrongly) arrive
            assert [p for _, _, p in inbox.frames] == [b"authenticated"]
        finally:
            for transport in (server, good, no_cert, plain):
                await transport.close()

    run(body)


# ---- in memory ------------------------------------------------------------------------------------------------


def test_in_memory_network_delivers_partitions_and_heals() -> None:
    async def body() -> None:
        network = InMemoryNetwork()
        inboxes = {name: Inbox() for name in "abc"}
        nodes = {name: network.transport(name, inboxes[name]) for name in "abc"}
        for node in nodes.values():
            await node.start()
        nodes["a"].send("b", 1, b"1")
        await until(lambda: len(inboxes["b"].frames) == 1, "delivery")
        assert inboxes["b"].frames == [("a", 1, b"1")]
        network.partition("a", "b", one_way=True)
        nodes["a"].send("b", 1, b"lost")
        nodes["b"].send("a", 1, b"back")
        nodes["a"].send("c", 1, b"to c")
        await until(lambda: len(inboxes["a"].frames) == 1 and len(inboxes["c"].frames) == 1, "unblocked paths")
        network.isolate("c")
        nodes["a"].send("c", 1, b"lost too")
        network.heal()
        nodes["a"].send("b", 1, b"2")
        await until(lambda: len(inboxes["b"].frames) == 2, "delivery after heal")
        assert [p for _, _, p in inboxes["b"].frames] == [b"1", b"2"]
        assert [p for _, _, p in inboxes["c"].frames] == [b"to c"]
        with pytest.raises(ValueError, match="already"):
            network.transport("a", Inbox())
        for node in nodes.values():
            await node.close()

    run(body)


def test_a_peer_restarted_behind_a_proxy_is_reached_again() -> None:
    """Regression: a proxy accepts at once and resets when its target is down, so the reset can land before the
    link adopts the connection; the link used to keep writing into that dead connection forever."""
    from raftstore.testing.faults.proxy import FaultProxy
    from raftstore.testing.raftproc.cluster import free_port

    port = free_port()
    proxy = FaultProxy(seed=1)
    try:
        proxy.add_link("a->b", "127.0.0.1", port)
        host, proxy_port = proxy.address("a->b")
        target = f"127.0.0.1:{port}"

        async def scenario() -> None:
            got: list[bytes] = []
            b = TCPTransport("b", lambda s, k, p: got.append(p), bind=target)
            await b.start()
            a = TCPTransport("a", lambda *x: None, dial_map={target: f"{host}:{proxy_port}"}, min_backoff=0.005)
            await a.start()

            async def deliver(tag: bytes) -> None:
                deadline = time.monotonic() + 30
                while tag not in got:
                    assert time.monotonic() < deadline, f"{tag!r} never arrived"
                    a.send(target, 5, tag)
                    await asyncio.sleep(0.02)

            await deliver(b"before")
            await b.close()
            for i in range(20):  # while b is down: every connection through the proxy is reset at once
                a.send(target, 5, b"lost%d" % i)
                await asyncio.sleep(0.01)
            b = TCPTransport("b", lambda s, k, p: got.append(p), bind=target)
            await b.start()
            await deliver(b"after")
            await a.close()
            await b.close()

        asyncio.run(scenario())
    finally:
        proxy.close()
