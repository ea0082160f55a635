"""`Agent`: one running server — backend, leader duties and (optionally) the HTTP API — on an asyncio loop.

Start order matters: the HTTP socket is bound first (so ``--http-addr 127.0.0.1:0`` has a real port to advertise
to the backend for forwarding), then the backend is made, then the core's duties start, then HTTP serves. Stop
order is the reverse: stop accepting, wake blocking queries, stop duties, close the backend.

`AgentThread` runs an `Agent` on a loop in a background thread, for the embedding API and for tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from raftstore.agent.api.app import make_app
from raftstore.agent.backend import ServerBackend
from raftstore.agent.config import AgentConfig
from raftstore.agent.core import AgentCore
from raftstore.agent.factory import make_backend
from raftstore.agent.listener import (
    AccessLogger,
    ConnectionLimiter,
    LimitedSite,
    bind_socket,
    bound_address,
    forward_ssl_context,
    server_ssl_context,
)
from raftstore.agent.logs import kv

log = logging.getLogger("raftstore.agent")

T = TypeVar("T")

BackendFactory = Callable[[AgentConfig], Awaitable[ServerBackend]]


class Agent:
    def __init__(self, config: AgentConfig, *, serve_http: bool = True, backend_factory: BackendFactory = make_backend):
        self.config = config
        self.serve_http = serve_http
        self.backend_factory = backend_factory
        self.core: AgentCore | None = None
        self.http_address: str | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.tls else "http"

    async def start(self, ready_timeout: float = 10.0) -> None:
        config = self.config
        ssl_context = server_ssl_context(config)
        if self.serve_http:
            self._sock = bind_socket(config.http_addr)
            self.http_address = bound_address(self._sock)
            if config.advertise_http is None:
                config.advertise_http = self.http_address
        try:
            backend = await self.backend_factory(config)
        except BaseException:
            self._close_socket()
            raise
        self.core = AgentCore(backend, config)
        await self.core.start()
        if self.serve_http:
            assert self._sock is not None
            app = make_app(self.core, forward_ssl=forward_ssl_context(config))
            self._runner = web.AppRunner(
                app,
                access_log_class=AccessLogger,
                access_log=logging.getLogger("raftstore.agent.access"),
                handler_cancellation=True,
                shutdown_timeout=5.0,
                max_field_size=config.http_max_header_size,
                max_line_size=config.http_max_header_size,
            )
            await self._runner.setup()
            limiter = ConnectionLimiter(config.http_max_conns_per_client, config.http_max_conns)
            await LimitedSite(
                self._runner, self._sock, limiter, ssl_context, first_byte_timeout=config.http_first_byte_timeout
            ).start()
        await self.core.wait_ready(ready_timeout)
        log.info(
            kv(
                "agent started",
                node=config.node_name,
                datacenter=config.datacenter,
                mode="dev" if config.dev else "server",
                http=f"{self.scheme}://{self.http_address}" if self.http_address else "off",
                token="set" if config.token else "none",
            )
        )

    async def stop(self) -> None:
        if self.core is not None:
            await self.core.stop()  # wakes blocking queries so the HTTP shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._close_socket()
        if self.core is not None:
            await self.core.backend.close()
            self.core = None
        log.info(kv("agent stopped", node=self.config.node_name))

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class AgentThread:
    """An `Agent` on its own event loop in a daemon thread; `call` runs a coroutine there from any thread.
    `ready_timeout`: how long `start` waits for a leader (and, on the leader, for its own catalog entry)."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        serve_http: bool = True,
        backend_factory: BackendFactory = make_backend,
        ready_timeout: float = 10.0,
    ):
        self.agent = Agent(config, serve_http=serve_http, backend_factory=backend_factory)
        self.ready_timeout = ready_timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="raftstore-agent", daemon=True)
        self._started = False

    def start(self, timeout: float = 30.0) -> AgentThread:
        self._thread.start()
        try:
            self.call(self.agent.start(self.ready_timeout), timeout)
        except BaseException:
            self._halt()
            raise
        self._started = True
        return self

    def call(self, coroutine: Awaitable[T], timeout: float | None = None) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    @property
    def http_address(self) -> str:
        assert self.agent.http_address is not None, "the agent serves no HTTP"
        return self.agent.http_address

    def stop(self, timeout: float = 30.0) -> None:
        if self._started:
            self._started = False
            try:
                self.call(self.agent.stop(), timeout)
            finally:
                self._halt()

    def _halt(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()

    def __enter__(self) -> AgentThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
