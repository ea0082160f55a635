"""The agent: a raftstore server process with Consul's HTTP API, its CLI, and the embedding API.

Public names: `Server` (embedding, `raftstore.agent.embed`), `AgentConfig`, `make_backend` (the one switch between
`DirectBackend` and the Raft backend), `Agent` / `AgentThread` (a running server), and the backend contract in
`raftstore.agent.backend`. They are imported lazily so that importing the contract does not load aiohttp.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Server": "raftstore.agent.embed",
    "AgentConfig": "raftstore.agent.config",
    "make_backend": "raftstore.agent.factory",
    "DirectBackend": "raftstore.agent.direct",
    "Agent": "raftstore.agent.server",
    "AgentThread": "raftstore.agent.server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'raftstore.agent' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
