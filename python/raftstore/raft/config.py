"""`Config`: hashicorp/raft's fields and defaults (config.go DefaultConfig), validated as ValidateConfig does.

Durations are seconds (floats). The core has no clock: it counts `tick()` calls, and a tick stands for
`tick_interval` seconds, so every timeout is converted to a whole number of ticks (at least one) by `ticks()`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from raftstore.raft.errors import ConfigError

PROTOCOL_VERSION_MIN = 0
PROTOCOL_VERSION_MAX = 3
MIN_TIMEOUT = 0.005
"""hashicorp rejects heartbeat, election and leader-lease timeouts below 5 ms."""


@dataclass(frozen=True, slots=True)
class Config:
    """Raft tunables; `validate()` enforces the same rules as hashicorp/raft, plus the tick conversion's own."""

    local_id: str = ""
    protocol_version: int = PROTOCOL_VERSION_MAX
    heartbeat_timeout: float = 1.0
    """A follower without leader contact for a random time in [T, 2T) starts an election; the leader sends
    heartbeats every T/10 (hashicorp replication.go)."""
    election_timeout: float = 1.0
    """A candidate that has not won within a random time in [T, 2T) starts a new election."""
    commit_timeout: float = 0.05
    """Longest a follower waits to hear about a commit when the leader has nothing else to send."""
    max_append_entries: int = 64
    """Entries per AppendEntries request (1..1024)."""
    batch_apply_ch: bool = False
    shutdown_on_remove: bool = True
    trailing_logs: int = 10240
    """Entries kept behind a snapshot so that a slightly lagging follower needs no InstallSnapshot."""
    snapshot_interval: float = 120.0
    snapshot_threshold: int = 8192
    leader_lease_timeout: float = 0.5
    """A leader that has not heard from a quorum for this long steps down (check-quorum); also the lease length
    for lease-based reads. Must not exceed heartbeat_timeout (a follower refuses votes for that long)."""
    no_snapshot_restore_on_start: bool = False
    pre_vote_disabled: bool = False
    restore_committed_logs: bool = False
    # Core-specific knobs (not in hashicorp/raft).
    tick_interval: float = 0.01
    """Seconds one `tick()` stands for; every timeout must be at least one tick."""
    max_inflight_appends: int = 2
    """AppendEntries requests with entries in flight per follower (hashicorp's MaxRPCsInFlight default, PR #541)."""
    check_quorum: bool = True
    """Step down without quorum contact for leader_lease_timeout (hashicorp always does this)."""

    def validate(self) -> Config:
        """Raise `ConfigError` naming the first field that breaks a rule; return self for chaining."""
        if not self.local_id:
            raise ConfigError("local_id cannot be empty")
        if not PROTOCOL_VERSION_MIN <= self.protocol_version <= PROTOCOL_VERSION_MAX:
            raise ConfigError(
                f"protocol_version {self.protocol_version} must be in [{PROTOCOL_VERSION_MIN}, {PROTOCOL_VERSION_MAX}]"
            )
        if self.heartbeat_timeout < MIN_TIMEOUT:
            raise ConfigError("heartbeat_timeout is too low (minimum 5 ms)")
        if self.election_timeout < MIN_TIMEOUT:
            raise ConfigError("election_timeout is too low (minimum 5 ms)")
        if self.commit_timeout < 0.001:
            raise ConfigError("commit_timeout is too low (minimum 1 ms)")
        if not 1 <= self.max_append_entries <= 1024:
            raise ConfigError("max_append_entries must be in [1, 1024]")
        if self.snapshot_interval < MIN_TIMEOUT:
            raise ConfigError("snapshot_interval is too low (minimum 5 ms)")
        if self.leader_lease_timeout < MIN_TIMEOUT:
            raise ConfigError("leader_lease_timeout is too low (minimum 5 ms)")
        if self.leader_lease_timeout > self.heartbeat_timeout:
            raise ConfigError("leader_lease_timeout cannot be larger than heartbeat_timeout")
        if self.election_timeout < self.heartbeat_timeout:
            raise ConfigError("election_timeout must be equal or greater than heartbeat_timeout")
        if self.trailing_logs < 0 or self.snapshot_threshold < 0:
            raise ConfigError("trailing_logs and snapshot_threshold cannot be negative")
        if not 0 < self.tick_interval <= self.commit_timeout:
            raise ConfigError("tick_interval must be positive and at most commit_timeout")
        if self.max_inflight_appends < 1:
            raise ConfigError("max_inflight_appends must be at least 1")
        return self

    def ticks(self, seconds: float) -> int:
        """`seconds` as a whole number of ticks, at least one."""
        return max(1, round(seconds / self.tick_interval))

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed (ReloadConfig-style), validated."""
        return dataclasses.replace(self, **changes).validate()  # type: ignore[arg-type]
