"""The HTTP listener: a pre-bound socket (so ``:0`` works and the real port is known before the backend starts),
optional TLS, and connection limits.

Limits (Consul's ``limits.http_max_conns_per_client``, plus a total cap): a connection over either limit is
closed at once, before a byte of it is read, so a client opening thousands of idle connections cannot starve the
others; a connection that sends nothing within ``http_first_byte_timeout`` is closed too. Both sit in a thin
protocol wrapper around aiohttp's request handler, which counts connections per client IP address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import Counter
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from raftstore.agent.config import AgentConfig, ConfigError, split_host_port
from raftstore.agent.logs import kv

log = logging.getLogger("raftstore.agent.http")


def bind_socket(address: str, backlog: int = 512) -> socket.socket:
    """A listening TCP socket on ``HOST:PORT`` (port 0: any free port)."""
    host, port = split_host_port(address, "HTTP address")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError(f"cannot resolve HTTP address {address!r}: {error}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {address}: {error.strerror}") from None
    sock.setblocking(False)
    return sock


def bound_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_ssl_context(config: AgentConfig) -> ssl.SSLContext | None:
    """TLS for the HTTP API: the agent's certificate, and client certificates verified against the CA when
    ``tls_verify_incoming`` is set."""
    if not config.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert_file or "", config.tls_key_file)
        if config.tls_ca_file:
            context.load_verify_locations(config.tls_ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot load TLS files: {error}") from None
    context.verify_mode = ssl.CERT_REQUIRED if config.tls_verify_incoming else ssl.CERT_NONE
    return context


def forward_ssl_context(config: AgentConfig) -> ssl.SSLContext | None:
    """The client side of forwarding to the leader over HTTPS: the cluster CA, and this agent's certificate as
    the client certificate (servers that verify incoming connections accept each other)."""
    if not config.tls:
        return None
    context = ssl.create_default_context(cafile=config.tls_ca_file)
    context.check_hostname = False  # servers are addressed by IP; the CA is what is trusted
    context.load_cert_chain(config.tls_cert_file or "", config.tls_key_file)
    return context


class ConnectionLimiter:
    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self.counts: Counter[str] = Counter()
        self.open = 0

    def acquire(self, client: str) -> bool:
        if self.open >= self.total or self.counts[client] >= self.per_client:
            return False
        self.counts[client] += 1
        self.open += 1
        return True

    def release(self, client: str) -> None:
        self.counts[client] -= 1
        if self.counts[client] <= 0:
            del self.counts[client]
        self.open -= 1


class _Guarded(asyncio.Protocol):
    """aiohttp's request handler behind a connection-count check, and a deadline for a new connection's first
    bytes (aiohttp waits for them forever, so idle connections would hold their slots until the client left)."""

    def __init__(self, inner: Any, limiter: ConnectionLimiter, first_byte_timeout: float) -> None:
        self._inner = inner
        self._limiter = limiter
        self._first_byte_timeout = first_byte_timeout
        self._client: str | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self._limiter.acquire(client):
            log.warning(kv("connection refused: too many connections", client=client))
            transport.close()
            return
        self._client = client
        self._idle = asyncio.get_running_loop().call_later(self._first_byte_timeout, transport.close)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._client is None:
            return
        self._limiter.release(self._client)
        self._client = None
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class LimitedSite(web.BaseSite):
    """An aiohttp site on a pre-bound socket with connection limits."""

    __slots__ = ("_first_byte_timeout", "_limiter", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        limiter: ConnectionLimiter,
        ssl_context: ssl.SSLContext | None,
        first_byte_timeout: float = 30.0,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._sock = sock
        self._limiter = limiter
        self._first_byte_timeout = first_byte_timeout

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{bound_address(self._sock)}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Guarded(server(), self._limiter, self._first_byte_timeout), sock=self._sock, ssl=self._ssl_context
        )


class AccessLogger(AbstractAccessLogger):
    """One debug line per request: method, path WITHOUT the query string (it may carry ?token=), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            kv(
                "request",
                method=request.method,
                path=request.path,
                status=response.status,
                ms=f"{time * 1000:.1f}",
                client=request.remote,
            )
        )
