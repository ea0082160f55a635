"""The RPCs Raft cores exchange (hashicorp/raft commands.go shapes, plus etcd-style heartbeats and hints).

Every message names its `source` and `target` server ids and carries the sender's `term`. Requests and responses
are separate classes so a transport can dispatch on the class; all are slotted dataclasses to stay cheap.
Heartbeats are their own message (as in etcd) so they never touch the log consistency check: they carry a commit
index already known to be safe for that follower (min(leader commit, follower match)), a read sequence number
for ReadIndex / verify-leader rounds, and the leader's tick when sent, echoed back to time the leader lease.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raftstore.logstore.log import Log
from raftstore.raft.configuration import Configuration


@dataclass(slots=True)
class AppendEntriesRequest:
    source: str
    target: str
    term: int
    prev_log_index: int
    prev_log_term: int
    entries: list[Log]
    leader_commit: int


@dataclass(slots=True)
class AppendEntriesResponse:
    """On success `index` is the last index this request made match; on rejection it is the rejected
    `prev_log_index`, and (`hint_index`, `hint_term`) let the leader skip a whole conflicting term at once."""

    source: str
    target: str
    term: int
    success: bool
    index: int
    hint_index: int = 0
    hint_term: int = 0


@dataclass(slots=True)
class HeartbeatRequest:
    source: str
    target: str
    term: int
    commit: int
    read_seq: int
    sent_at: int


@dataclass(slots=True)
class HeartbeatResponse:
    source: str
    target: str
    term: int
    read_seq: int
    sent_at: int


@dataclass(slots=True)
class RequestVoteRequest:
    """A vote or (with `pre_vote`) a pre-vote request; `term` is the term the candidate would win. A pre-vote asks
    "would you vote for me?" without anyone changing term (thesis 9.6). `leadership_transfer` overrides the refusal
    to vote while a leader is known."""

    source: str
    target: str
    term: int
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False
    leadership_transfer: bool = False


@dataclass(slots=True)
class RequestVoteResponse:
    source: str
    target: str
    term: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What a snapshot covers: the last entry it includes and the configuration as of that entry."""

    index: int
    term: int
    configuration: Configuration
    configuration_index: int


@dataclass(slots=True)
class InstallSnapshotRequest:
    """The core fills in `meta`; the runner attaches the snapshot's bytes (or a reader) as `data` before sending."""

    source: str
    target: str
    term: int
    meta: SnapshotMeta
    data: Any = field(default=None, compare=False)


@dataclass(slots=True)
class InstallSnapshotResponse:
    source: str
    target: str
    term: int
    success: bool
    index: int


@dataclass(slots=True)
class TimeoutNowRequest:
    """From a leader handing over leadership: start an election at once, skipping pre-vote."""

    source: str
    target: str
    term: int


Message = (
    AppendEntriesRequest
    | AppendEntriesResponse
    | HeartbeatRequest
    | HeartbeatResponse
    | RequestVoteRequest
    | RequestVoteResponse
    | InstallSnapshotRequest
    | InstallSnapshotResponse
    | TimeoutNowRequest
)
