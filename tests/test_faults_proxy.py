"""The fault-injection TCP proxy, driven with plain sockets against a threaded echo server."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from raftstore.testing.faults.proxy import FaultProxy, ProxyError

pytestmark = pytest.mark.pure_python

DEADLINE = 20.0  # generous: a loaded 2-core machine
QUIET = 0.5  # how long "nothing arrives" is watched for


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: EchoServer = self.server  # type: ignore[assignment]
        while data := self.request.recv(65536):
            with server.lock:
                server.received += data
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.received = b""

    def wait_received(self, expected: bytes) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with self.lock:
                if expected in self.received:
                    return
            time.sleep(0.01)
        raise AssertionError(f"the target never received {expected!r}")


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(seed=7) as made:
        yield made


def dial(proxy: FaultProxy, name: str = "link") -> socket.socket:
    sock = socket.create_connection(proxy.address(name), timeout=DEADLINE)
    return sock


def recv_exactly(sock: socket.socket, n: int, timeout: float = DEADLINE) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def nothing_arrives(sock: socket.socket) -> bool:
    """True when the socket stays silent (no byte, no EOF) for QUIET seconds."""
    sock.settimeout(QUIET)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    return False


def test_forwards_both_ways_and_counts(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    with dial(proxy) as sock:
        payload = bytes(range(256)) * 1000
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
    stats = proxy.stats("link")
    assert stats.connections == 1 and stats.bytes_forward == stats.bytes_backward == len(payload)


def test_partition_holds_bytes_until_heal(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    with dial(proxy) as sock:
        sock.sendall(b"before")
        assert recv_exactly(sock, 6) == b"before"
        proxy.partition("link")
        sock.sendall(b"during")
        assert nothing_arrives(sock)
        assert b"during" not in echo.received
        proxy.heal("link")
        assert recv_exactly(sock, 6) == b"during"  # held, not lost: TCP never loses bytes inside a connection


def test_new_connections_wait_for_the_heal(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    proxy.partition("link")
    with dial(proxy) as sock:
        sock.sendall(b"hello")
        assert nothing_arrives(sock)
        assert proxy.stats("link").bytes_forward == 0
        proxy.heal()
        assert recv_exactly(sock, 5) == b"hello"


def test_one_way_forward_partition(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    with dial(proxy) as sock:
        sock.sendall(b"a")
        assert recv_exactly(sock, 1) == b"a"
        proxy.partition("link", "forward")
        sock.sendall(b"b")
        assert nothing_arrives(sock)
        assert echo.received == b"a"  # the target never saw it
        proxy.heal("link")
        assert recv_exactly(sock, 1) == b"b"


def test_one_way_backward_partition(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    with dial(proxy) as sock:
        sock.sendall(b"a")
        assert recv_exactly(sock, 1) == b"a"
        proxy.partition("link", "backward")
        sock.sendall(b"b")
        echo.wait_received(b"ab")  # the request goes through...
        assert nothing_arrives(sock)  # ...the reply does not
        proxy.heal("link")
        assert recv_exactly(sock, 1) == b"b"


def test_delay_is_added_each_way_and_keeps_order(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    proxy.set_delay("link", 0.2, jitter=0.05)
    with dial(proxy) as sock:
        started = time.monotonic()
        for i in range(20):
            sock.sendall(b"%02d" % i)
        got = recv_exactly(sock, 40)
        assert time.monotonic() - started >= 0.4  # 0.2 s forward + 0.2 s back, at least
        assert got == b"".join(b"%02d" % i for i in range(20))


def test_drop_connections_resets_and_the_link_stays_usable(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    with dial(proxy) as sock:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        assert proxy.drop_connections("link") == 1
        with pytest.raises((ConnectionError, OSError)):
            recv_exactly(sock, 1)
    with dial(proxy) as sock:
        sock.sendall(b"y")
        assert recv_exactly(sock, 1) == b"y"
    assert proxy.stats("link").dropped_connections == 1


def test_random_drop(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("link", *echo.server_address[:2])
    proxy.set_drop("link", 1.0)
    with dial(proxy) as sock:
        sock.sendall(b"x")
        with pytest.raises((ConnectionError, OSError)):
            recv_exactly(sock, 1)
    proxy.set_drop("link", 0.0)
    with dial(proxy) as sock:
        sock.sendall(b"y")
        assert recv_exactly(sock, 1) == b"y"


def test_links_are_independent_and_names_are_checked(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.add_link("a", *echo.server_address[:2])
    proxy.add_link("b", *echo.server_address[:2])
    assert sorted(proxy.links()) == ["a", "b"]
    proxy.partition("a")
    with dial(proxy, "b") as sock:
        sock.sendall(b"ok")
        assert recv_exactly(sock, 2) == b"ok"
    with pytest.raises(ProxyError):
        proxy.partition("c")
    with pytest.raises(ProxyError):
        proxy.add_link("a", "127.0.0.1", 1)
    with pytest.raises(ValueError):
        proxy.partition("a", "sideways")  # type: ignore[arg-type]


def test_unreachable_target_closes_the_client(proxy: FaultProxy) -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nothing listens there now
    proxy.add_link("link", "127.0.0.1", port)
    with dial(proxy) as sock:
        sock.settimeout(DEADLINE)
        with contextlib.suppress(ConnectionResetError):  # reset rather than closed: the client learns at once too
            assert sock.recv(1) == b""


def test_close_releases_the_thread(echo: EchoServer) -> None:
    made = FaultProxy()
    made.add_link("link", *echo.server_address[:2])
    sock = dial(made)
    made.close()
    assert not made._thread.is_alive()
    with pytest.raises(ProxyError):
        made.partition("link")
    sock.close()
