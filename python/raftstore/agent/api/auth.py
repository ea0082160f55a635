"""The management token: required, when one is configured, for every write, the snapshot endpoints and the
operator endpoints (reads of KV, catalog, health, sessions and status stay open, as with Consul's default-allow).

The token is accepted as ``X-Consul-Token``, ``Authorization: Bearer <token>`` or ``?token=`` (Consul's three
forms) and compared with `hmac.compare_digest`, so the time taken does not tell how much of a guess was right.
It is never logged (see `raftstore.agent.logs`).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from raftstore.agent.errors import PermissionDenied

_READ_METHODS = {"GET", "HEAD"}
_ALWAYS_PROTECTED = ("/v1/snapshot", "/v1/operator/")


def request_token(request: web.Request) -> str | None:
    token = request.headers.get("X-Consul-Token")
    if token:
        return token
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or None


def is_protected(request: web.Request) -> bool:
    path = request.path
    if path == "/v1/snapshot" or path.startswith(_ALWAYS_PROTECTED):
        return True
    return request.method not in _READ_METHODS


def check_token(request: web.Request, expected: str | None) -> None:
    """PermissionDenied unless no token is configured, the request is unprotected, or it carries the token."""
    if expected is None or not is_protected(request):
        return
    given = request_token(request)
    if given is None or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
        raise PermissionDenied("Permission denied")
