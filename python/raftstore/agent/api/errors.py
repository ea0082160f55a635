"""How errors become HTTP answers: Consul's status codes with a plain-text body, never a traceback.

The mapping is in one place: the agent's error types carry their status; the backend's errors map to 500 with
Consul's texts ("No cluster leader"); aiohttp's own routing errors (unknown path, wrong method) get Go-mux-like
texts. Anything else is a bug: logged with its traceback, answered 500 "internal error" without details.
"""

from __future__ import annotations

from aiohttp import web

NO_LEADER = "No cluster leader"


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8", headers=headers)
