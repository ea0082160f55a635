"""Autopilot's tunables, validated, in the two wire forms Consul uses for them.

- HTTP (`GET|PUT /v1/operator/autopilot/configuration`): durations as Go duration strings ("200ms"), plus the
  Enterprise fields Consul always returns (zero values here) and the Raft indexes.
- FSM (`AutopilotSetConfigRequest`, message type 9): Go field names, durations as int64 nanoseconds, `CAS`.

Durations are held as integer nanoseconds (Go's `time.Duration`) so both forms round-trip exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from raftstore.util.goduration import MILLISECOND, SECOND, DurationError, format_duration, parse_duration

_UINT64_MAX = (1 << 64) - 1
_INT64_MAX = (1 << 63) - 1


class AutopilotConfigError(ValueError):
    """An autopilot configuration (or a request carrying one) that is malformed or out of range."""


@dataclasses.dataclass(frozen=True)
class AutopilotConfig:
    """Consul's `structs.AutopilotConfig`; the defaults are Consul's (agent/consul/config.go)."""

    cleanup_dead_servers: bool = True
    last_contact_threshold: int = 200 * MILLISECOND
    """How long a server may go without contact from the leader before it is unhealthy (nanoseconds)."""
    max_trailing_logs: int = 250
    """How many log entries a server may trail the leader by before it is unhealthy."""
    min_quorum: int = 0
    """Dead-server cleanup never leaves fewer potential voters than this (0: no floor beyond quorum safety)."""
    server_stabilization_time: int = 10 * SECOND
    """How long a new server must stay healthy before it is promoted to voter (nanoseconds)."""
    redundancy_zone_tag: str = ""
    disable_upgrade_migration: bool = False
    upgrade_version_tag: str = ""
    create_index: int = 0
    modify_index: int = 0

    def __post_init__(self) -> None:
        # Every constructor path (HTTP, FSM, direct) goes through here, so a stored config is always in range.
        _check_bool("CleanupDeadServers", self.cleanup_dead_servers)
        _check_bool("DisableUpgradeMigration", self.disable_upgrade_migration)
        _check_int("LastContactThreshold", self.last_contact_threshold, 0, _INT64_MAX)
        _check_int("ServerStabilizationTime", self.server_stabilization_time, 0, _INT64_MAX)
        _check_int("MaxTrailingLogs", self.max_trailing_logs, 0, _UINT64_MAX)
        _check_int("MinQuorum", self.min_quorum, 0, _UINT64_MAX)
        _check_int("CreateIndex", self.create_index, 0, _UINT64_MAX)
        _check_int("ModifyIndex", self.modify_index, 0, _UINT64_MAX)
        _check_str("RedundancyZoneTag", self.redundancy_zone_tag)
        _check_str("UpgradeVersionTag", self.upgrade_version_tag)

    # -- HTTP form ------------------------------------------------------------------------------------------

    def to_http(self) -> dict[str, Any]:
        """The body of `GET /v1/operator/autopilot/configuration`, field for field as Consul writes it."""
        return {
            "CleanupDeadServers": self.cleanup_dead_servers,
            "LastContactThreshold": format_duration(self.last_contact_threshold),
            "MaxTrailingLogs": self.max_trailing_logs,
            "MinQuorum": self.min_quorum,
            "ServerStabilizationTime": format_duration(self.server_stabilization_time),
            "RedundancyZoneTag": self.redundancy_zone_tag,
            "DisableUpgradeMigration": self.disable_upgrade_migration,
            "UpgradeVersionTag": self.upgrade_version_tag,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    @classmethod
    def from_http(cls, body: Any) -> AutopilotConfig:
        """A `PUT` body. Like Consul's `api.ReadableDuration`, a duration may be a Go string or integer nanoseconds;
        omitted fields take Go's zero values (Consul decodes into a zeroed struct, not the defaults)."""
        if not isinstance(body, Mapping):
            raise AutopilotConfigError(f"autopilot configuration must be a JSON object, got {type(body).__name__}")
        _reject_unknown(body, _HTTP_FIELDS)
        return cls(
            cleanup_dead_servers=body.get("CleanupDeadServers", False),
            last_contact_threshold=_http_duration("LastContactThreshold", body.get("LastContactThreshold", 0)),
            max_trailing_logs=body.get("MaxTrailingLogs", 0),
            min_quorum=body.get("MinQuorum", 0),
            server_stabilization_time=_http_duration("ServerStabilizationTime", body.get("ServerStabilizationTime", 0)),
            redundancy_zone_tag=body.get("RedundancyZoneTag", ""),
            disable_upgrade_migration=body.get("DisableUpgradeMigration", False),
            upgrade_version_tag=body.get("UpgradeVersionTag", ""),
            create_index=body.get("CreateIndex", 0),
            modify_index=body.get("ModifyIndex", 0),
        )

    # -- FSM form -------------------------------------------------------------------------------------------

    def to_fsm(self) -> dict[str, Any]:
        """`structs.AutopilotConfig` as msgpack sees it: Go names, durations in nanoseconds, RaftIndex flattened."""
        return {
            "CleanupDeadServers": self.cleanup_dead_servers,
            "LastContactThreshold": self.last_contact_threshold,
            "MaxTrailingLogs": self.max_trailing_logs,
            "MinQuorum": self.min_quorum,
            "ServerStabilizationTime": self.server_stabilization_time,
            "RedundancyZoneTag": self.redundancy_zone_tag,
            "DisableUpgradeMigration": self.disable_upgrade_migration,
            "UpgradeVersionTag": self.upgrade_version_tag,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }

    @classmethod
    def from_fsm(cls, body: Any) -> AutopilotConfig:
        """The inverse of `to_fsm`; unknown fields are ignored (a newer server may have added some)."""
        if not isinstance(body, Mapping):
            raise AutopilotConfigError(f"autopilot Config must be a map, got {type(body).__name__}")
        return cls(
            cleanup_dead_servers=body.get("CleanupDeadServers", False),
            last_contact_threshold=body.get("LastContactThreshold", 0),
            max_trailing_logs=body.get("MaxTrailingLogs", 0),
            min_quorum=body.get("MinQuorum", 0),
            server_stabilization_time=body.get("ServerStabilizationTime", 0),
            redundancy_zone_tag=body.get("RedundancyZoneTag", ""),
            disable_upgrade_migration=body.get("DisableUpgradeMigration", False),
            upgrade_version_tag=body.get("UpgradeVersionTag", ""),
            create_index=body.get("CreateIndex", 0),
            modify_index=body.get("ModifyIndex", 0),
        )


@dataclasses.dataclass(frozen=True)
class AutopilotSetConfigRequest:
    """Consul's `structs.AutopilotSetConfigRequest`: the FSM command body for message type 9 (Autopilot)."""

    config: AutopilotConfig
    cas: bool = False
    """When set, the write applies only if the stored config's ModifyIndex equals `config.modify_index`."""
    datacenter: str = ""
    token: str = ""

    def to_body(self) -> dict[str, Any]:
        """The msgpack body to pass to `raftstore.fsm.encode(MessageType.AUTOPILOT, ...)`."""
        return {"Datacenter": self.datacenter, "Config": self.config.to_fsm(), "CAS": self.cas, "Token": self.token}

    @classmethod
    def from_body(cls, body: Any) -> AutopilotSetConfigRequest:
        """Decode a body from `raftstore.fsm.decode_body`; the FSM handler for type 9 calls this."""
        if not isinstance(body, Mapping):
            raise AutopilotConfigError(f"AutopilotSetConfigRequest must be a map, got {type(body).__name__}")
        if "Config" not in body:
            raise AutopilotConfigError("AutopilotSetConfigRequest has no Config")
        cas = body.get("CAS", False)
        _check_bool("CAS", cas)
        datacenter = body.get("Datacenter", "")
        token = body.get("Token", "")
        _check_str("Datacenter", datacenter)
        _check_str("Token", token)
        return cls(config=AutopilotConfig.from_fsm(body["Config"]), cas=cas, datacenter=datacenter, token=token)


def apply_set_config(
    existing: AutopilotConfig | None, request: AutopilotSetConfigRequest, index: int
) -> tuple[AutopilotConfig | None, bool]:
    """The state-store semantics of applying a set-config command at Raft `index` (Consul's AutopilotSetConfig /
    AutopilotCASConfig): returns (config to store or None to leave it, the command's boolean result).

    A CAS write succeeds only when a config is stored and its ModifyIndex equals the request's; CreateIndex is kept
    from the stored config (or set to `index` for the first one) and ModifyIndex becomes `index`.
    """
    if request.cas and (existing is None or existing.modify_index != request.config.modify_index):
        return None, False
    create_index = existing.create_index if existing is not None else index
    return dataclasses.replace(request.config, create_index=create_index, modify_index=index), True


_HTTP_FIELDS = frozenset(
    {
        "CleanupDeadServers",
        "LastContactThreshold",
        "MaxTrailingLogs",
        "MinQuorum",
        "ServerStabilizationTime",
        "RedundancyZoneTag",
        "DisableUpgradeMigration",
        "UpgradeVersionTag",
        "CreateIndex",
        "ModifyIndex",
    }
)


def _reject_unknown(body: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(key) for key in body if key not in allowed)
    if unknown:
        raise AutopilotConfigError(f"unknown autopilot configuration field(s): {', '.join(unknown)}")


def _http_duration(field: str, value: Any) -> int:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError as error:
            raise AutopilotConfigError(f"{field}: {error}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise AutopilotConfigError(f"{field} must be a duration string or integer nanoseconds, got {value!r}")


def _check_bool(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise AutopilotConfigError(f"{field} must be a boolean, got {value!r}")


def _check_str(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise AutopilotConfigError(f"{field} must be a string, got {value!r}")


def _check_int(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AutopilotConfigError(f"{field} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise AutopilotConfigError(f"{field} must be in {low}..{high}, got {value}")
