"""`AgentCore`: what one server runs besides its backend, whether it serves HTTP or is embedded.

It owns the leader's duties (TTL session timers, catalog registration of the servers, tombstone reaping), the
agent's own services and TTL checks (`LocalAgent`), and the few agent operations that are not plain FSM
commands (session renewal, which Consul handles on the leader without a Raft write). The HTTP API and the
embedding API both sit on one `AgentCore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from raftstore.agent.backend import ServerBackend
from raftstore.agent.commands import Limits
from raftstore.agent.config import AgentConfig
from raftstore.agent.errors import NotFound
from raftstore.agent.leader import LeaderDuties, SessionTimers, TombstoneGC
from raftstore.agent.local import LocalAgent

VERSION = "1.21.0"
"""The Consul version raftstore's HTTP API answers as (agent/self's Config.Version): the API subset it follows."""


class AgentCore:
    def __init__(self, backend: ServerBackend, config: AgentConfig) -> None:
        self.backend = backend
        self.config = config
        self.limits: Limits = config.limits
        self.started_at = time.time()
        self.timers = SessionTimers()
        self.tombstones = TombstoneGC(ttl=config.tombstone_ttl, granularity=config.tombstone_granularity)
        self.duties: LeaderDuties | None = None
        self.local: LocalAgent | None = None
        self.closing: asyncio.Event | None = None

    @property
    def node_name(self) -> str:
        return self.backend.node_name

    async def start(self) -> None:
        """Start the leader's duties on the running loop."""
        self.closing = asyncio.Event()
        self.duties = LeaderDuties(self.backend, self.timers, self.tombstones)
        self.duties.start()
        self.local = LocalAgent(self.backend)
        self.local.start()

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until this server (as leader) has registered itself, or a leader exists elsewhere."""
        assert self.duties is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.duties.ready.is_set() or (self.backend.known_leader() and not self.backend.is_leader()):
                return True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.duties.ready.wait(), timeout=0.05)
        return self.duties.ready.is_set()

    async def stop(self) -> None:
        """Stop the duties and wake every blocking query; the caller closes the backend."""
        if self.closing is not None:
            self.closing.set()
        if self.local is not None:
            await self.local.stop()
        if self.duties is not None:
            await self.duties.stop()

    async def renew_session(self, session_id: str) -> dict[str, Any]:
        """Consul's Session.Renew: on the leader (a follower raises NotLeaderError to be forwarded), restart the
        session's TTL timer; NotFound when it does not exist."""
        if not self.backend.is_leader():
            await self.backend.verify_leader()  # raises NotLeaderError with the leader's address, or returns as leader
        _, session = self.backend.state.session_get(session_id)
        if session is None:
            raise NotFound(f"Session id '{session_id}' not found")
        self.timers.renew(session_id, session.get("TTL") or "")
        return session
