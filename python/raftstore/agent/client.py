"""A small HTTP client for the CLI, standard library only (urllib): the CLI must work where nothing but raftstore
is installed, and it needs none of aiohttp's machinery for one request at a time.

The address comes from ``--http-addr``, else ``RAFTSTORE_HTTP_ADDR``, else ``CONSUL_HTTP_ADDR``, else
127.0.0.1:8500; the token from ``--token``, else ``RAFTSTORE_HTTP_TOKEN``, else ``CONSUL_HTTP_TOKEN``. The token
travels in the ``X-Consul-Token`` header, never in the URL.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

DEFAULT_ADDR = "127.0.0.1:8500"


class ClientError(Exception):
    """The agent answered with an error status, or could not be reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def resolve_addr(flag: str | None) -> str:
    addr = flag or os.environ.get("RAFTSTORE_HTTP_ADDR") or os.environ.get("CONSUL_HTTP_ADDR") or DEFAULT_ADDR
    return addr if "://" in addr else f"http://{addr}"


def resolve_token(flag: str | None) -> str | None:
    return flag or os.environ.get("RAFTSTORE_HTTP_TOKEN") or os.environ.get("CONSUL_HTTP_TOKEN") or None


class HTTPClient:
    def __init__(
        self, addr: str | None = None, token: str | None = None, ca_file: str | None = None, timeout: float = 30.0
    ) -> None:
        self.base = resolve_addr(addr).rstrip("/")
        self.token = resolve_token(token)
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file) if self.base.startswith("https") else None
        if self.context is not None and ca_file:
            self.context.check_hostname = False

    def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: bytes | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, body); a 404 is returned, any other error status raises ClientError."""
        query = urllib.parse.urlencode(
            {k: ("" if v is True else v) for k, v in (params or {}).items() if v is not None}
        )
        url = self.base + urllib.parse.quote(path, safe="/:") + (f"?{query}" if query else "")
        req = urllib.request.Request(url, data=body, method=method)
        if self.token:
            req.add_header("X-Consul-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            data = error.read()
            if error.code == 404:
                return 404, dict(error.headers), data
            text = data.decode("utf-8", "replace").strip() or error.reason
            raise ClientError(f"Unexpected response code: {error.code} ({text})", error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ClientError(f"Error connecting to the agent at {self.base}: {reason}") from None

    def json(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: bytes | None = None) -> Any:
        status, _, data = self.request(method, path, params, body)
        if status == 404:
            return None
        return json.loads(data) if data else None
