"""Autopilot state in the JSON shapes of Consul's HTTP API (/v1/operator/autopilot/state and /health).

Field names, order and value forms are Consul's: `LastContact` is a Go duration string ("13.04ms"), `StableSince`
is Go's RFC 3339 with nanoseconds (time.Time's JSON form, trailing zeros dropped), `Status` is the Raft role.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from raftstore.autopilot.state import sort_servers
from raftstore.autopilot.types import RaftState, State
from raftstore.util.goduration import format_duration

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")

HTTP_OK = 200
HTTP_TOO_MANY_REQUESTS = 429
"""Consul answers /v1/operator/autopilot/health with 429 when the cluster is unhealthy, so a load balancer or a
script can use the status code alone."""


def format_rfc3339(unix_ns: int) -> str:
    """Go's `time.Time` JSON form (RFC3339Nano) for a UTC instant: "2020-11-02T15:00:00.5Z"."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    moment = _EPOCH + datetime.timedelta(seconds=seconds)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def parse_rfc3339(text: str) -> int:
    """The inverse of `format_rfc3339` (any offset accepted), as Unix nanoseconds; ValueError when malformed."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, offset = match.group(7) or "", match.group(8)
    zone = datetime.timezone.utc
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        zone = datetime.timezone(sign * datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=zone)
    whole = (moment - _EPOCH) // datetime.timedelta(seconds=1)
    return whole * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


def state_to_consul(state: State) -> dict[str, Any]:
    """The body of `GET /v1/operator/autopilot/state` (Consul's api.AutopilotState, Community Edition fields:
    no read replicas, redundancy zones or upgrade info, so those omitempty fields are absent)."""
    servers: dict[str, Any] = {}
    for server_id in sorted(state.servers):
        entry = state.servers[server_id]
        servers[server_id] = {
            "ID": entry.server.id,
            "Name": entry.server.name,
            "Address": entry.server.address,
            "NodeStatus": entry.server.node_status.value,
            "Version": entry.server.version,
            "LastContact": format_duration(entry.stats.last_contact),
            "LastTerm": entry.stats.last_term,
            "LastIndex": entry.stats.last_index,
            "Healthy": entry.health.healthy,
            "StableSince": format_rfc3339(entry.health.stable_since),
            "ReadReplica": False,
            "Status": entry.state.value,
            "Meta": dict(entry.server.meta) if entry.server.meta is not None else None,
            "NodeType": entry.server.node_type,
        }
    return {
        "Healthy": state.healthy,
        "FailureTolerance": state.failure_tolerance,
        "OptimisticFailureTolerance": state.failure_tolerance,
        "Servers": servers,
        "Leader": state.leader,
        "Voters": list(state.voters),
    }


def health_to_consul(state: State) -> tuple[int, dict[str, Any]]:
    """The status code and body of `GET /v1/operator/autopilot/health` (Consul's OperatorHealthReply); servers are
    listed in autopilot's order: leader, voters, then the rest, healthy and long-stable first."""
    servers = []
    for server_id in sort_servers(list(state.servers), state):
        entry = state.servers[server_id]
        servers.append(
            {
                "ID": entry.server.id,
                "Name": entry.server.name,
                "Address": entry.server.address,
                "SerfStatus": entry.server.node_status.value,
                "Version": entry.server.version,
                "Leader": entry.state is RaftState.LEADER,
                "LastContact": format_duration(entry.stats.last_contact),
                "LastTerm": entry.stats.last_term,
                "LastIndex": entry.stats.last_index,
                "Healthy": entry.health.healthy,
                "Voter": entry.has_voting_rights,
                "StableSince": format_rfc3339(entry.health.stable_since),
            }
        )
    body = {"Healthy": state.healthy, "FailureTolerance": state.failure_tolerance, "Servers": servers}
    return (HTTP_OK if state.healthy else HTTP_TOO_MANY_REQUESTS), body
