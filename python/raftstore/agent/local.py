"""The agent's own services and TTL checks (Consul's /v1/agent/service and /v1/agent/check endpoints).

Consul's usual way to register a service is through the local agent: the service lives on the agent's node, its
checks are run (or, for TTL checks, fed) by that agent, and the agent keeps the catalog in step. raftstore agents
are servers, so "local" means this server's node; the catalog is written with ordinary Register/Deregister
commands (through the leader: a follower relays them with `relay`, since the node is this server's own and the
request must not be forwarded as is).

Only TTL checks exist here: the application reports health (``/v1/agent/check/pass/<id>``), and a check not
reported within its TTL turns critical ("TTL expired"), as in Consul. Script, HTTP, TCP and gRPC checks would make
the agent probe things on the application's behalf; their definitions are refused with a clear 400 rather than
registered and never run.

Registrations live in memory (Consul persists them in its data directory): after a restart an application
registers again, as it would with a fresh agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from raftstore.agent.backend import NotLeaderError, ServerBackend
from raftstore.agent.commands import response_of
from raftstore.agent.errors import InvalidRequest, NotFound
from raftstore.agent.logs import kv
from raftstore.fsm import MessageType
from raftstore.util.goduration import SECOND, DurationError, parse_duration

log = logging.getLogger("raftstore.agent.local")

Relay = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""`relay(leader_http, path, json_body)`: send a catalog write to the leader's HTTP API."""

_STATUSES = ("passing", "warning", "critical")
_PROBES = ("Script", "Args", "HTTP", "TCP", "GRPC", "DockerContainerID", "H2PING", "UDP", "OSService", "AliasService")


@dataclass
class LocalCheck:
    check_id: str
    name: str
    service_id: str
    ttl: float
    status: str
    output: str
    notes: str
    deadline: float


class LocalAgent:
    def __init__(self, backend: ServerBackend, clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.clock = clock
        self.relay: Relay | None = None
        self.services: dict[str, dict[str, Any]] = {}
        self.checks: dict[str, LocalCheck] = {}
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self, tick: float = 0.1) -> None:
        self._task = asyncio.create_task(self._run(tick), name="raftstore-ttl-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, tick: float) -> None:
        while True:
            await asyncio.sleep(tick)
            for check in [c for c in self.checks.values() if c.status != "critical" and c.deadline <= self.clock()]:
                try:
                    await self.update(check.check_id, "critical", "TTL expired", from_timer=True)
                    log.info(kv("check TTL expired", check=check.check_id))
                except Exception as error:  # retried on the next tick (no leader right now, ...)
                    log.warning(kv("could not mark an expired check critical", check=check.check_id, error=error))

    # ------------------------------------------------------------------------------------------ catalog writes

    def _node(self) -> tuple[str, str]:
        name = self.backend.node_name
        _, nodes = self.backend.state.nodes()
        row = next((n for n in nodes if n["Node"] == name), None)
        if row is None:
            raise InvalidRequest(f"this agent's node {name!r} is not registered in the catalog yet")
        return name, row["Address"]

    async def _write(self, msg_type: MessageType, path: str, body: dict[str, Any]) -> None:
        try:
            response_of(await self.backend.apply(msg_type, body))
        except NotLeaderError as error:
            if self.relay is None or not error.leader_http:
                raise
            await self.relay(error.leader_http, path, body)

    async def _register(self, service: dict[str, Any] | None, checks: list[LocalCheck]) -> None:
        node, address = self._node()
        body: dict[str, Any] = {"Node": node, "Address": address, "SkipNodeUpdate": True}
        if service is not None:
            body["Service"] = service
        if checks:
            body["Checks"] = [
                {
                    "Node": node,
                    "CheckID": c.check_id,
                    "Name": c.name,
                    "Status": c.status,
                    "Notes": c.notes,
                    "Output": c.output,
                    "ServiceID": c.service_id,
                    "Type": "ttl",
                }
                for c in checks
            ]
        await self._write(MessageType.REGISTER, "/v1/catalog/register", body)

    # ------------------------------------------------------------------------------------------ services

    def _check_from(self, raw: Mapping[str, Any], default_id: str, service_id: str, default_name: str) -> LocalCheck:
        probes = [p for p in _PROBES if raw.get(p)]
        if probes:
            raise InvalidRequest(f"raftstore agents run TTL checks only; {', '.join(probes)} checks are not supported")
        ttl_text = raw.get("TTL")
        if not ttl_text:
            raise InvalidRequest("a check needs a TTL (raftstore agents run TTL checks only)")
        try:
            ttl = parse_duration(ttl_text) / SECOND if isinstance(ttl_text, str) else -1
        except DurationError:
            ttl = -1
        if ttl <= 0:
            raise InvalidRequest(f"Invalid TTL {ttl_text!r}")
        status = raw.get("Status") or "critical"
        if status not in _STATUSES:
            raise InvalidRequest(f"Invalid check status {status!r}")
        check_id = raw.get("CheckID") or raw.get("ID") or default_id
        return LocalCheck(
            check_id=check_id,
            name=raw.get("Name") or default_name,
            service_id=service_id,
            ttl=ttl,
            status=status,
            output=raw.get("Output") or "",
            notes=raw.get("Notes") or "",
            deadline=self.clock() + ttl,
        )

    async def register_service(self, spec: Mapping[str, Any]) -> None:
        name = spec.get("Name") or ""
        if not name:
            raise InvalidRequest("Missing service name")
        service_id = spec.get("ID") or name
        raw_checks = ([spec["Check"]] if spec.get("Check") else []) + list(spec.get("Checks") or [])
        checks = []
        for number, raw in enumerate(raw_checks, start=1):
            default_id = f"service:{service_id}" if len(raw_checks) == 1 else f"service:{service_id}:{number}"
            checks.append(self._check_from(raw, default_id, service_id, f"Service '{name}' check"))
        service = {
            "ID": service_id,
            "Service": name,
            "Tags": list(spec.get("Tags") or []),
            "Address": spec.get("Address") or "",
            "Meta": dict(spec.get("Meta") or {}),
            "Port": spec.get("Port") or 0,
        }
        # A re-registration replaces the service's checks: drop those it no longer has.
        stale = [
            c
            for c in self.checks.values()
            if c.service_id == service_id and c.check_id not in {k.check_id for k in checks}
        ]
        await self._register(service, checks)
        for check in stale:
            await self.deregister_check(check.check_id)
        self.services[service_id] = service
        for check in checks:
            self.checks[check.check_id] = check

    async def deregister_service(self, service_id: str) -> None:
        node, _ = self._node()
        _, rows = self.backend.state.node_services(node)
        if service_id not in self.services and not any(r["ServiceID"] == service_id for r in rows):
            raise NotFound(
                f'Unknown service ID "{service_id}". Ensure that the service ID is passed, not the service name.'
            )
        await self._write(MessageType.DEREGISTER, "/v1/catalog/deregister", {"Node": node, "ServiceID": service_id})
        self.services.pop(service_id, None)
        for check_id in [c.check_id for c in self.checks.values() if c.service_id == service_id]:
            del self.checks[check_id]

    # ------------------------------------------------------------------------------------------ checks

    async def register_check(self, spec: Mapping[str, Any]) -> None:
        name = spec.get("Name") or ""
        if not name:
            raise InvalidRequest("Missing check name")
        service_id = spec.get("ServiceID") or ""
        if service_id:
            node, _ = self._node()
            _, rows = self.backend.state.node_services(node)
            if not any(r["ServiceID"] == service_id for r in rows):
                raise InvalidRequest(f"ServiceID {service_id!r} does not exist")
        check = self._check_from(spec, name, service_id, name)
        await self._register(None, [check])
        self.checks[check.check_id] = check

    async def deregister_check(self, check_id: str) -> None:
        node, _ = self._node()
        _, rows = self.backend.state.node_checks(node)
        if check_id not in self.checks and not any(r["CheckID"] == check_id for r in rows):
            raise NotFound(f'Unknown check ID "{check_id}". Ensure that the check ID is passed, not the check name.')
        await self._write(MessageType.DEREGISTER, "/v1/catalog/deregister", {"Node": node, "CheckID": check_id})
        self.checks.pop(check_id, None)

    async def update(self, check_id: str, status: str, output: str, *, from_timer: bool = False) -> None:
        """Report a TTL check's status (pass / warn / fail / update): restarts its TTL; the catalog is written
        only when the status or output changed."""
        if status not in _STATUSES:
            raise InvalidRequest(f"Invalid check status {status!r}")
        check = self.checks.get(check_id)
        if check is None:
            raise NotFound(f'Unknown check ID "{check_id}". Ensure that the check ID is passed, not the check name.')
        if not from_timer:
            check.deadline = self.clock() + check.ttl
        if (check.status, check.output) == (status, output):
            return
        previous = (check.status, check.output)
        check.status, check.output = status, output
        try:
            await self._register(None, [check])
        except BaseException:
            check.status, check.output = previous
            raise
