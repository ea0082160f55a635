"""Work only the leader does, outside the FSM (Consul's leader.go): expire TTL sessions, register the servers in
the catalog, and reap old KV tombstones.

Why here and not in the FSM: these are *decisions* taken on a clock, and the FSM must stay deterministic; the
leader takes them and replicates the outcome as ordinary commands (session destroy, register, tombstone reap), so
every server applies the same thing. A server that is not the leader keeps no timers; one that becomes leader
starts every TTL session's timer afresh (Consul's initializeSessionTimers), so a session never expires sooner
than TTL x 2 after the last renewal any leader saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from raftstore.agent import commands
from raftstore.agent.backend import BackendError, ServerBackend
from raftstore.agent.errors import AgentError
from raftstore.agent.logs import kv
from raftstore.fsm import MessageType
from raftstore.state.schema import SESSIONS, TOMBSTONES
from raftstore.util.goduration import SECOND, DurationError, parse_duration

log = logging.getLogger("raftstore.agent.leader")

SESSION_TTL_MULTIPLIER = 2  # Consul's SessionTTLMultiplier: a session lives TTL x 2 after its last renewal


class SessionTimers:
    """session id -> monotonic deadline, for TTL sessions; kept only while this server leads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, multiplier: float = SESSION_TTL_MULTIPLIER):
        self.clock = clock
        self.multiplier = multiplier
        self._deadlines: dict[str, float] = {}
        self._synced_index = -1

    def clear(self) -> None:
        self._deadlines.clear()
        self._synced_index = -1

    def _lifetime(self, ttl: str) -> float | None:
        try:
            ns = parse_duration(ttl) if ttl else 0
        except DurationError:
            return None
        return ns * self.multiplier / SECOND if ns > 0 else None

    def sync(self, backend: ServerBackend) -> None:
        """Start timers for TTL sessions not yet timed and drop those of destroyed sessions; cheap when the
        sessions table has not changed since the last call."""
        store = backend.state
        index = store.max_index(SESSIONS)
        if index == self._synced_index:
            return
        _, sessions = store.session_list()
        alive: set[str] = set()
        now = self.clock()
        for session in sessions:
            lifetime = self._lifetime(session.get("TTL") or "")
            if lifetime is None:
                continue
            alive.add(session["ID"])
            self._deadlines.setdefault(session["ID"], now + lifetime)
        for gone in set(self._deadlines) - alive:
            del self._deadlines[gone]
        self._synced_index = index

    def renew(self, session_id: str, ttl: str) -> None:
        lifetime = self._lifetime(ttl)
        if lifetime is not None:
            self._deadlines[session_id] = self.clock() + lifetime

    def expired(self) -> list[str]:
        now = self.clock()
        return [sid for sid, deadline in self._deadlines.items() if deadline <= now]

    def forget(self, session_id: str) -> None:
        self._deadlines.pop(session_id, None)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._deadlines


@dataclass
class TombstoneGC:
    """Consul's TombstoneGC, simplified to observations: every `granularity` seconds the leader notes the current
    tombstone index; an observation older than `ttl` is reaped (every tombstone at or below it is gone). Blocking
    queries need a tombstone only for a short while (so a list index never goes backwards under them)."""

    ttl: float = 15 * 60.0
    granularity: float = 30.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._seen: list[tuple[float, int]] = []
        self._last_note = float("-inf")
        self._reaped = 0

    def clear(self) -> None:
        self._seen.clear()
        self._last_note = float("-inf")

    def due(self, backend: ServerBackend) -> int | None:
        """The index to reap now, if any."""
        now = self.clock()
        if now - self._last_note >= self.granularity:
            self._last_note = now
            index = backend.state.max_index(TOMBSTONES)
            if index > self._reaped and (not self._seen or self._seen[-1][1] != index):
                self._seen.append((now, index))
        ripe = [index for seen, index in self._seen if now - seen >= self.ttl]
        if not ripe:
            return None
        self._seen = [(seen, index) for seen, index in self._seen if now - seen < self.ttl]
        self._reaped = max(ripe)
        return self._reaped


class LeaderDuties:
    """The leader's loop: every `tick` seconds, if this server leads, catch up on each duty."""

    def __init__(
        self,
        backend: ServerBackend,
        timers: SessionTimers,
        tombstones: TombstoneGC,
        tick: float = 0.1,
        reconcile_every: float = 5.0,
    ) -> None:
        self.backend = backend
        self.timers = timers
        self.tombstones = tombstones
        self.tick = tick
        self.reconcile_every = reconcile_every
        self._leading = False
        self._last_reconcile = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._last_problem = ""
        self.ready = asyncio.Event()
        """Set once the first pass as leader has registered this server (sessions need its serfHealth check)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="raftstore-leader-duties")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
                self._last_problem = ""
            except asyncio.CancelledError:
                raise
            except (AgentError, BackendError) as error:  # lost leadership mid-way, shutting down ...: try again
                if str(error) != self._last_problem:  # once per distinct problem, not once per tick
                    log.info(kv("leader duty postponed", error=str(error)))
                    self._last_problem = str(error)
            except Exception as error:  # a bug must not stop session expiry for good
                if repr(error) != self._last_problem:
                    log.exception("leader duty failed")
                    self._last_problem = repr(error)
            await asyncio.sleep(self.tick)

    async def run_once(self) -> None:
        backend = self.backend
        if not backend.is_leader():
            if self._leading:
                log.info(kv("no longer leader: session timers stopped"))
                self.timers.clear()
                self.tombstones.clear()
                self._leading = False
            return
        if not self._leading:
            self._leading = True
            self.timers.clear()
            self._last_reconcile = float("-inf")
            log.info(kv("leading: session timers started", node=backend.node_name))
        now = time.monotonic()
        if now - self._last_reconcile >= self.reconcile_every:
            self._last_reconcile = now  # before the attempt: a failing registration is retried on the next period
            await reconcile_servers(backend)
            self.ready.set()
        self.timers.sync(backend)
        for session_id in self.timers.expired():
            log.info(kv("session TTL expired", session=session_id))
            await commands.session_destroy(backend, session_id)
            self.timers.forget(session_id)
        reap = self.tombstones.due(backend)
        if reap is not None:
            await commands.reap_tombstones(backend, reap)


async def reconcile_servers(backend: ServerBackend) -> None:
    """Register every server of the Raft configuration as a catalog node with a passing serfHealth check and the
    "consul" service, as Consul's leader does for its members; sessions default to that check. Writes only what
    is missing or changed, so a steady cluster proposes nothing."""
    _, servers = backend.raft_configuration()
    store = backend.state
    for server in servers:
        host, _, port = server.address.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        _, services = store.node_services(server.node)
        _, checks = store.node_checks(server.node)
        has_node = any(n["Node"] == server.node and n["Address"] == host for n in store.nodes()[1])
        healthy = any(c["CheckID"] == "serfHealth" and c["Status"] == "passing" for c in checks)
        has_service = any(s["ServiceID"] == "consul" for s in services)
        if has_node and healthy and has_service:
            continue
        port_number = int(port) if port.isdigit() else 8300
        await commands.apply_command(
            backend,
            MessageType.REGISTER,
            {
                "Datacenter": backend.datacenter,
                "ID": server.id if _looks_like_uuid(server.id) else "",
                "Node": server.node,
                "Address": host,
                "NodeMeta": {"consul-network-segment": ""},
                "Service": {"ID": "consul", "Service": "consul", "Port": port_number},
                "Check": {
                    "Node": server.node,
                    "CheckID": "serfHealth",
                    "Name": "Serf Health Status",
                    "Status": "passing",
                    "Output": "Agent alive and reachable",
                },
            },
        )
        log.info(kv("registered server in the catalog", node=server.node, address=host))


def _looks_like_uuid(text: str) -> bool:
    parts = text.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdefABCDEF" for c in text.replace("-", "")
    )
