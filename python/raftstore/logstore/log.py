"""The Raft log record and its types, as hashicorp/raft defines them (log.go): the unit every log store keeps.

Defined here, at the bottom of the stack, so that the log stores and the Raft core share one record type and the
same numbering on disk and on the wire.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LogType(enum.IntEnum):
    """hashicorp/raft's numbering; the values are persisted and sent, so they never change."""

    COMMAND = 0
    """Applied to the FSM."""
    NOOP = 1
    """Appended by a new leader to commit entries of earlier terms; not applied to the FSM."""
    ADD_PEER_DEPRECATED = 2
    """Protocol version 0 membership; never written, recognised so old logs decode."""
    REMOVE_PEER_DEPRECATED = 3
    """Protocol version 0 membership; never written, recognised so old logs decode."""
    BARRIER = 4
    """Resolves once every earlier entry has been applied; not applied to the FSM."""
    CONFIGURATION = 5
    """A cluster membership; takes effect when appended (hashicorp/raft membership.md)."""


@dataclass(slots=True)
class Log:
    """One Raft log entry.

    `index` and `term` place it in the log; `data` is opaque to Raft (the FSM's command bytes for COMMAND entries, an
    encoded configuration for CONFIGURATION ones); `extensions` is opaque metadata for the FSM (hashicorp/raft
    passes it through untouched); `appended_at` is the leader's wall-clock time (seconds since the epoch) when it
    appended the entry, kept for the oldest-log-age metric.
    """

    index: int
    term: int
    type: LogType = LogType.COMMAND
    data: bytes = b""
    extensions: bytes = b""
    appended_at: float = 0.0
