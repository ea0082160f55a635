"""The agent's write operations: Consul's request semantics turned into FSM commands on a `ServerBackend`.

Shared by the HTTP handlers and the embedding API, so both validate input the same way (Consul's rules and error
texts) and both read an FSM response the same way: a returned `StateError` is a refused command
(`CommandRejected`), anything else is the command's answer. Backend errors (`NotLeaderError` ...) pass through
untouched: the HTTP layer forwards on them, the embedding API raises them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raftstore.agent.backend import ApplyResult, ServerBackend
from raftstore.agent.errors import CommandRejected, InvalidRequest, NoPathToDatacenter, TooLarge
from raftstore.fsm import MessageType
from raftstore.state.errors import StateError
from raftstore.util.goduration import SECOND, DurationError, format_duration, parse_duration

DEFAULT_LOCK_DELAY_NS = 15 * SECOND
MAX_LOCK_DELAY_NS = 60 * SECOND
SESSION_TTL_MAX_NS = 24 * 3600 * SECOND
_LOCK_DELAY_SECONDS_BELOW = 1000  # Consul's FixupLockDelay: a bare number under this is seconds, else nanoseconds
_U64 = 1 << 64


@dataclass(frozen=True)
class Limits:
    """Consul's request limits (its defaults), enforced by both the HTTP API and the embedding API."""

    kv_max_value_size: int = 512 * 1024
    txn_max_ops: int = 128
    txn_max_req_len: int = 512 * 1024
    session_ttl_min_ns: int = 10 * SECOND


def value_too_large(size: int, limit: int) -> TooLarge:
    return TooLarge(
        f"Request body({size} bytes) too large, max size: {limit} bytes. See "
        "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size."
    )


def response_of(result: ApplyResult) -> Any:
    """The FSM's answer to a command, or `CommandRejected` with the state store's message."""
    if isinstance(result.response, StateError):
        raise CommandRejected(str(result.response))
    return result.response


async def apply_command(backend: ServerBackend, msg_type: MessageType, body: Mapping[str, Any]) -> Any:
    """Apply one FSM command and return its answer (`response_of`)."""
    return response_of(await backend.apply(msg_type, body))


# ------------------------------------------------------------------------------------------------------ KV


def _check_uint(value: int | None, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _U64):
        raise InvalidRequest(f"Invalid {what}: must be an unsigned 64-bit integer")


async def kv_put(
    backend: ServerBackend,
    key: str,
    value: bytes,
    *,
    flags: int = 0,
    cas: int | None = None,
    acquire: str | None = None,
    release: str | None = None,
    limits: Limits = Limits(),
) -> bool:
    """Consul's PUT /v1/kv: a set, or exactly one of cas / acquire / release; returns the operation's bool."""
    if not key:
        raise InvalidRequest("Missing key name")
    given = [name for name, v in (("cas", cas), ("acquire", acquire), ("release", release)) if v is not None]
    if len(given) > 1:
        raise InvalidRequest(f"Conflicting flags: {'&'.join(given)}")
    _check_uint(flags, "flags")
    _check_uint(cas, "cas index")
    if len(value) > limits.kv_max_value_size:
        raise value_too_large(len(value), limits.kv_max_value_size)
    entry: dict[str, Any] = {"Key": key, "Value": value, "Flags": flags}
    if cas is not None:
        op = "cas"
        entry["ModifyIndex"] = cas
    elif acquire is not None:
        op = "lock"
        entry["Session"] = acquire
        # Consul's kvsPreApply: while a lock-delay runs (set when a session holding the key was invalidated), the
        # leader refuses the lock without proposing it. Only the leader's view counts; a follower forwards.
        if backend.is_leader() and backend.state.kvs_lock_delay(key) > 0:
            return False
    elif release is not None:
        op = "unlock"
        entry["Session"] = release
    else:
        op = "set"
    answer = await apply_command(
        backend, MessageType.KVS, {"Datacenter": backend.datacenter, "Op": op, "DirEnt": entry}
    )
    return True if op == "set" else bool(answer)


async def kv_delete(backend: ServerBackend, key: str, *, recurse: bool = False, cas: int | None = None) -> bool:
    """Consul's DELETE /v1/kv: one key, a whole prefix (`recurse`, the empty prefix allowed) or a cas delete."""
    if recurse and cas is not None:
        raise InvalidRequest("Conflicting flags: cas&recurse")
    if not key and not recurse:
        raise InvalidRequest("Missing key name")
    _check_uint(cas, "cas index")
    entry: dict[str, Any]
    if recurse:
        op, entry = "delete-tree", {"Key": key}
    elif cas is not None:
        op, entry = "delete-cas", {"Key": key, "ModifyIndex": cas}
    else:
        op, entry = "delete", {"Key": key}
    answer = await apply_command(
        backend, MessageType.KVS, {"Datacenter": backend.datacenter, "Op": op, "DirEnt": entry}
    )
    return bool(answer) if op == "delete-cas" else True


# ------------------------------------------------------------------------------------------------------ sessions


def _duration(value: Any, what: str) -> int:
    try:
        return parse_duration(value)
    except (DurationError, TypeError) as error:
        raise InvalidRequest(f"Request decode failed: invalid {what} {value!r}: {error}") from None


def lock_delay_ns(value: Any) -> int:
    """Consul's FixupLockDelay: a Go duration string, or a number (seconds below 1000, nanoseconds above)."""
    if isinstance(value, str):
        return _duration(value, "LockDelay")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest("Request decode failed: LockDelay must be a duration string or a number")
    if value < _LOCK_DELAY_SECONDS_BELOW:
        return round(value * SECOND)
    return int(value)


def session_request(spec: Mapping[str, Any], default_node: str, limits: Limits = Limits()) -> dict[str, Any]:
    """A Session record for the FSM from a create request (Consul's field names), with Consul's defaults: the
    agent's node, the serfHealth check, a 15 s lock-delay and the release behaviour. InvalidRequest otherwise."""
    name = spec.get("Name") or ""
    node = spec.get("Node") or default_node
    behavior = spec.get("Behavior") or "release"
    ttl = spec.get("TTL") or ""
    for field, value in (("Name", name), ("Node", node), ("Behavior", behavior), ("TTL", ttl)):
        if not isinstance(value, str):
            raise InvalidRequest(f"Request decode failed: {field} must be a string")
    if behavior not in ("release", "delete"):
        raise InvalidRequest(f"Invalid Behavior setting '{behavior}'")
    delay = lock_delay_ns(spec["LockDelay"]) if spec.get("LockDelay") is not None else DEFAULT_LOCK_DELAY_NS
    if not 0 <= delay <= MAX_LOCK_DELAY_NS:
        raise InvalidRequest(f"Invalid LockDelay {format_duration(delay)}: must be between 0s and 1m0s")
    if ttl:
        ttl_ns = _duration(ttl, "TTL")
        if ttl_ns != 0 and not limits.session_ttl_min_ns <= ttl_ns <= SESSION_TTL_MAX_NS:
            raise InvalidRequest(
                f"Session TTL '{ttl}' must be between "
                f"[{format_duration(limits.session_ttl_min_ns)}={format_duration(SESSION_TTL_MAX_NS)}]"
            )
    if spec.get("NodeChecks") is not None:
        checks = spec["NodeChecks"]
    elif spec.get("Checks") is not None:
        checks = spec["Checks"]
    else:
        checks = ["serfHealth"]
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise InvalidRequest("Request decode failed: NodeChecks must be a list of check IDs")
    service_checks = spec.get("ServiceChecks") or []
    if not isinstance(service_checks, list) or not all(
        isinstance(c, Mapping) and isinstance(c.get("ID"), str) for c in service_checks
    ):
        raise InvalidRequest("Request decode failed: ServiceChecks must be a list of {ID, Namespace}")
    return {
        "ID": str(uuid.uuid4()),
        "Name": name,
        "Node": node,
        "LockDelay": delay,
        "Behavior": behavior,
        "TTL": ttl,
        "NodeChecks": list(checks),
        "ServiceChecks": [{"ID": c["ID"], "Namespace": c.get("Namespace") or ""} for c in service_checks],
    }


async def session_create(
    backend: ServerBackend, spec: Mapping[str, Any], default_node: str, limits: Limits = Limits()
) -> str:
    session = session_request(spec, default_node, limits)
    return str(await apply_command(backend, MessageType.SESSION, {"Op": "create", "Session": session}))


async def session_destroy(backend: ServerBackend, session_id: str) -> None:
    if not session_id:
        raise InvalidRequest("Missing session")
    await apply_command(backend, MessageType.SESSION, {"Op": "destroy", "Session": {"ID": session_id}})


# ------------------------------------------------------------------------------------------------------ catalog


def _check_datacenter(backend: ServerBackend, request: Mapping[str, Any]) -> None:
    datacenter = request.get("Datacenter")
    if datacenter and datacenter != backend.datacenter:
        raise NoPathToDatacenter(str(datacenter))


async def register(backend: ServerBackend, request: Mapping[str, Any]) -> None:
    """Consul's Catalog.Register: node and address are required; Datacenter defaults to the agent's."""
    _check_datacenter(backend, request)
    if not request.get("Node") or not request.get("Address"):
        raise InvalidRequest("Must provide node and address")
    body = dict(request)
    body["Datacenter"] = body.get("Datacenter") or backend.datacenter
    body.pop("WriteRequest", None)
    # Consul's Catalog.Register: a check without an ID is named by its Name, and belongs to the registered node.
    for field in ("Check", "Checks"):
        value = body.get(field)
        if isinstance(value, Mapping):
            body[field] = _fill_check(value, body["Node"])
        elif isinstance(value, list):
            body[field] = [_fill_check(c, body["Node"]) if isinstance(c, Mapping) else c for c in value]
    await apply_command(backend, MessageType.REGISTER, body)


def _fill_check(check: Mapping[str, Any], node: str) -> dict[str, Any]:
    filled = dict(check)
    if not filled.get("CheckID") and filled.get("Name"):
        filled["CheckID"] = filled["Name"]
    if not filled.get("Node"):
        filled["Node"] = node
    return filled


async def deregister(backend: ServerBackend, request: Mapping[str, Any]) -> None:
    _check_datacenter(backend, request)
    if not request.get("Node"):
        raise InvalidRequest("Must provide node")
    body = {k: request[k] for k in ("Node", "ServiceID", "CheckID") if request.get(k)}
    body["Datacenter"] = request.get("Datacenter") or backend.datacenter
    await apply_command(backend, MessageType.DEREGISTER, body)


# ------------------------------------------------------------------------------------------------------ txn


async def txn(backend: ServerBackend, ops: Sequence[Mapping[str, Any]], limits: Limits = Limits()) -> dict[str, Any]:
    """Apply FSM-shaped TxnOps atomically; returns Consul's TxnResponse {"Results", "Errors"}."""
    if len(ops) > limits.txn_max_ops:
        raise TooLarge(f"Transaction contains too many operations ({len(ops)} > {limits.txn_max_ops})")
    answer = await apply_command(backend, MessageType.TXN, {"Datacenter": backend.datacenter, "Ops": list(ops)})
    if not isinstance(answer, dict):
        raise CommandRejected(f"unexpected transaction response {answer!r:.80}")
    return answer


async def reap_tombstones(backend: ServerBackend, reap_index: int) -> None:
    await apply_command(
        backend, MessageType.TOMBSTONE, {"Datacenter": backend.datacenter, "Op": "reap", "ReapIndex": reap_index}
    )
