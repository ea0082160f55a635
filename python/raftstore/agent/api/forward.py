"""Forwarding: a follower relays a request it may not answer to the leader, so clients never notice.

The whole HTTP request (method, path, query, headers, body) goes to the leader's HTTP address, as
`NotLeaderError.leader_http` names it, and the leader's answer (status, headers, streamed body) comes back
unchanged. One hop only: the forwarded request carries `FORWARDED_HEADER`, and a server receiving it that is not
the leader either (leadership moved meanwhile) answers 500 "No cluster leader" rather than bounce it further —
loops are impossible and the client retries as it would on Consul.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import IO, Any

import aiohttp
from aiohttp import web

from raftstore.agent.api.body import BODY_KEY
from raftstore.agent.api.errors import NO_LEADER, text_response
from raftstore.agent.api.keys import request_key
from raftstore.agent.errors import CommandRejected
from raftstore.agent.logs import kv

log = logging.getLogger("raftstore.agent.http")

FORWARDED_HEADER = "X-Raftstore-Forwarded"
FILE_BODY_KEY = request_key("raftstore_body_file")
"""A request whose body was spooled to a file (snapshot restore) keeps the open file here."""

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class Forwarder:
    """Holds the client session used for forwarding (created on the server's loop, closed with it)."""

    def __init__(self, scheme: str, ssl_context: ssl.SSLContext | None, read_timeout: float) -> None:
        self.scheme = scheme
        self.ssl_context = ssl_context
        self.read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.read_timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def relay_writer(self, token: str | None) -> Callable[[str, str, dict[str, Any]], Awaitable[None]]:
        """A function sending one catalog write (JSON body) to the leader's HTTP API with this agent's token:
        for writes the agent makes on its own behalf (its services and checks), which must not be forwarded as
        the client's request (that would register them on the leader's node)."""

        async def relay(leader_http: str, path: str, body: dict[str, Any]) -> None:
            headers = {FORWARDED_HEADER: "1"}
            if token:
                headers["X-Consul-Token"] = token
            url = f"{self.scheme}://{leader_http}{path}"
            ssl_arg = self.ssl_context if self.ssl_context is not None else True
            try:
                async with self.session().put(url, json=body, headers=headers, ssl=ssl_arg) as answer:
                    text = await answer.text()
                    if answer.status != 200:
                        raise CommandRejected(f"the leader refused the catalog write: {answer.status} {text}")
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise CommandRejected(f"failed to reach the leader at {leader_http}: {error}") from None

        return relay

    async def forward(self, request: web.Request, leader_http: str | None) -> web.StreamResponse:
        if not leader_http or request.headers.get(FORWARDED_HEADER):
            return text_response(500, NO_LEADER)
        url = f"{self.scheme}://{leader_http}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers[FORWARDED_HEADER] = "1"
        body: bytes | IO[bytes] | None = request.get(BODY_KEY)
        spooled = request.get(FILE_BODY_KEY)
        if spooled is not None:
            spooled.seek(0)
            body = spooled
        elif body is None and request.can_read_body:
            body = await request.read()
        try:
            async with self.session().request(
                request.method,
                url,
                headers=headers,
                data=body,
                ssl=self.ssl_context if self.ssl_context is not None else True,
                allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for key, value in upstream.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        response.headers.add(key, value)
                if upstream.content_length is not None:
                    response.content_length = upstream.content_length
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(64 * 1024):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            log.warning(kv("forwarding to the leader failed", leader=leader_http, error=error))
            return text_response(500, f"failed to forward the request to the leader at {leader_http}: {error}")
