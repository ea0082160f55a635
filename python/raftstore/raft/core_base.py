"""State shared by every concern of the Raft core, and the primitives they all use.

The core is split by concern (election, replication, membership, snapshots, reads, leadership transfer) into
mixins over this base; `raftstore.raft.core.RaftCore` assembles them. The base owns the term, vote, log and
configuration bookkeeping, the role transitions every concern needs, and the accumulation of the next `Ready`
(what to persist, send and apply). Nothing here does I/O or reads a clock: time is `self.now`, counted in ticks.
"""

from __future__ import annotations

import enum
import random
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

from raftstore.logstore.log import Log, LogType
from raftstore.raft.config import Config
from raftstore.raft.configuration import Configuration
from raftstore.raft.errors import CorruptStateError
from raftstore.raft.messages import Message, SnapshotMeta
from raftstore.raft.raftlog import RaftLog
from raftstore.raft.ready import BootState, HardState, ReadState, Ready


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class ProgressState(enum.IntEnum):
    PROBE = 0
    """Send one AppendEntries at a time and wait (for its answer or the next heartbeat answer) to find the match."""
    REPLICATE = 1
    """Pipelined: up to `max_inflight_appends` requests with entries in flight."""
    SNAPSHOT = 2
    """An InstallSnapshot is on its way; nothing else is sent until it is answered or times out."""


class Progress:
    """The leader's view of one follower."""

    __slots__ = (
        "ack_sent_at",
        "inflight",
        "last_contact",
        "match",
        "next",
        "paused",
        "pending_snapshot",
        "read_ack",
        "sent_at",
        "state",
    )

    def __init__(self, next_index: int, now: int) -> None:
        self.next = next_index
        self.match = 0
        self.state = ProgressState.PROBE
        self.paused = False
        self.inflight: deque[tuple[int, int]] = deque()
        self.last_contact = now
        """Tick of the last answer of any kind (check-quorum)."""
        self.ack_sent_at = -(1 << 60)
        """Send tick of the newest heartbeat this follower answered (leader lease)."""
        self.read_ack = 0
        self.sent_at = now
        self.pending_snapshot = 0

    def become_probe(self) -> None:
        self.state = ProgressState.PROBE
        self.next = self.match + 1
        self.paused = False
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.paused = False
        self.inflight.clear()


class CoreBase(ABC):
    """Attributes and primitives; see the module docstring. Concerns are mixed in by `RaftCore`."""

    def __init__(self, config: Config, boot: BootState | None = None, seed: int | None = None) -> None:
        self.config = config.validate()
        self.id = config.local_id
        self.rng = random.Random(seed)
        self.hb_ticks = config.ticks(config.heartbeat_timeout)
        self.election_ticks = config.ticks(config.election_timeout)
        self.lease_ticks = config.ticks(config.leader_lease_timeout)
        self.commit_ticks = config.ticks(config.commit_timeout)
        self.hb_interval = max(1, self.hb_ticks // 10)
        self.retransmit_ticks = max(2, self.hb_ticks // 2)

        given = boot if boot is not None else BootState()
        boot = given.validate()
        snap = boot.snapshot
        self.snapshot: SnapshotMeta | None = snap
        self.log = RaftLog(list(boot.entries), snap.index if snap else 0, snap.term if snap else 0)
        self.term = boot.hard_state.term
        self.vote = boot.hard_state.vote
        self.commit = max(boot.hard_state.commit, self.log.snap_index)
        self.applied = self.log.snap_index
        self.configs: list[tuple[int, Configuration]] = [
            (snap.configuration_index, snap.configuration) if snap else (0, Configuration())
        ]
        for entry in self.log.entries:
            if entry.type == LogType.CONFIGURATION and entry.index > self.configs[0][0]:
                self.configs.append((entry.index, Configuration.decode(entry.data)))
        self._persisted = given.hard_state
        self.async_persist = False
        """Set by a runner that sends a leader's appends before its own write of them is durable (etcd thesis
        10.2.1). The leader then counts itself toward commit only up to `durable_index`, which the runner advances
        with `log_persisted`; without this a commit could rest on a quorum that includes an unwritten log."""
        self.durable_index = self.log.last_index()

        self.role = Role.FOLLOWER
        self.leader: str | None = None
        self.now = 0
        self.election_elapsed = 0
        self.contact_elapsed = 0
        """Ticks since the leader was last heard from; zero at boot so a restarted server honours a lease it
        may have promised before the crash."""
        self.timeout = 0
        self._reset_election_timer(self.hb_ticks)
        self.votes: dict[str, bool] = {}
        self.progress: dict[str, Progress] = {}
        self.heartbeat_elapsed = 0
        self.quorum_elapsed = 0
        self.term_start_index = 0
        self.read_seq = 0
        self.pending_reads: deque[tuple[int, Any, int]] = deque()
        self.reads_waiting: list[Any] = []
        self.transfer_target: str | None = None
        self.transfer_elapsed = 0
        self.timeout_now_sent = False
        self.transfer_attempted = False
        self.commit_notify_due: int | None = None
        self.need_broadcast = False
        self.need_heartbeat = False

        self._msgs: list[Message] = []
        self._new_entries: list[Log] = []
        self._truncate_from: int | None = None
        self._compact_to: int | None = None
        self._snapshot_out: SnapshotMeta | None = None
        self._snapshot_data: Any = None
        self._read_states: list[ReadState] = []
        self._dropped_reads: list[Any] = []
        self._transfer_aborted = False
        if given.entries and not boot.entries and snap is not None:
            # The log a snapshot install replaced survived a crash: finish deleting it in the first Ready.
            self._truncate_from = snap.index + 1
            self._compact_to = snap.index

    # ----------------------------------------------------------------- cross-concern hooks (implemented by mixins)
    @abstractmethod
    def _send_append(self, peer: str, pr: Progress, allow_empty: bool) -> bool:
        """Send the next AppendEntries (or snapshot) to `peer` if flow control allows; True if more could follow."""

    @abstractmethod
    def _broadcast_heartbeat(self) -> None: ...

    @abstractmethod
    def _maybe_commit(self) -> None:
        """Leader: advance the commit index to what a quorum of voters holds, if it is from the current term."""

    @abstractmethod
    def _become_leader(self) -> None: ...

    @abstractmethod
    def _accept_leader(self, leader: str) -> None: ...

    @abstractmethod
    def _maybe_send_timeout_now(self) -> None: ...

    @abstractmethod
    def _release_reads(self) -> None: ...

    @abstractmethod
    def propose(
        self, data: bytes, type: LogType = LogType.COMMAND, extensions: bytes = b"", appended_at: float = 0.0
    ) -> int: ...

    @abstractmethod
    def _on_commit_advanced(self) -> None:
        """Leader bookkeeping after the commit index moved (membership, reads, commit notification)."""

    # ------------------------------------------------------------------------------------------- configuration
    @property
    def latest_configuration(self) -> Configuration:
        return self.configs[-1][1]

    @property
    def latest_configuration_index(self) -> int:
        return self.configs[-1][0]

    def committed_configuration(self) -> tuple[int, Configuration]:
        for index, configuration in reversed(self.configs):
            if index <= self.commit:
                return index, configuration
        return self.configs[0]

    def _quorum(self, voters: tuple[str, ...]) -> int:
        return len(voters) // 2 + 1

    def _sync_progress(self) -> None:
        """Track exactly the servers of the latest configuration (it takes effect when appended)."""
        ids = [server for server in self.latest_configuration.ids() if server != self.id]
        for gone in [peer for peer in self.progress if peer not in ids]:
            del self.progress[gone]
            if gone == self.transfer_target:
                self._abort_transfer()
        next_index = self.log.last_index() + 1
        for peer in ids:  # configuration order, never set order: the simulator's replay depends on it
            if peer not in self.progress:
                self.progress[peer] = Progress(next_index, self.now)

    # ------------------------------------------------------------------------------------------- log mutation
    def _append(self, entries: list[Log]) -> None:
        """Append contiguous entries after the last one; a configuration entry takes effect here."""
        self.log.append(entries)
        self._new_entries.extend(entries)
        for entry in entries:
            if entry.type == LogType.CONFIGURATION:
                self.configs.append((entry.index, Configuration.decode(entry.data)))
                if self.role is Role.LEADER:
                    self._sync_progress()

    def _truncate(self, index: int) -> None:
        """Drop entries >= index; never a committed one (that would break state machine safety)."""
        if index <= self.commit:
            raise CorruptStateError(f"{self.id}: refusing to truncate committed entry {index} (commit {self.commit})")
        self.log.truncate_from(index)
        self.durable_index = min(self.durable_index, index - 1)
        pending = self._new_entries
        if pending and pending[0].index < index:
            del pending[index - pending[0].index :]
        else:
            pending.clear()
            self._truncate_from = index if self._truncate_from is None else min(self._truncate_from, index)
        while self.configs[-1][0] >= index:
            self.configs.pop()

    def _compact(self, index: int) -> None:
        """Forget entries <= index (covered by the snapshot); keep the configuration in force at `index`."""
        self.log.compact_to(index)
        self._compact_to = index if self._compact_to is None else max(self._compact_to, index)
        while len(self.configs) > 1 and self.configs[1][0] <= index:
            self.configs.pop(0)

    # ------------------------------------------------------------------------------------------------- roles
    def _reset_election_timer(self, base: int) -> None:
        self.election_elapsed = 0
        self.timeout = self.rng.randrange(base, 2 * base)

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self.term = term
            self.vote = None
        was_leader = self.role is Role.LEADER
        self.role = Role.FOLLOWER
        self.leader = leader
        self._reset_election_timer(self.hb_ticks)
        if was_leader:
            self._leave_leadership()

    def _leave_leadership(self) -> None:
        self.progress.clear()
        self._dropped_reads.extend(context for _, context, _ in self.pending_reads)
        self._dropped_reads.extend(self.reads_waiting)
        self.pending_reads.clear()
        self.reads_waiting.clear()
        self.transfer_target = None
        self.commit_notify_due = None
        self.need_broadcast = False
        self.need_heartbeat = False

    def _abort_transfer(self) -> None:
        if self.transfer_target is not None:
            self.transfer_target = None
            self._transfer_aborted = True

    def _send(self, message: Message) -> None:
        self._msgs.append(message)

    def _hard_state(self) -> HardState:
        """What the next Ready persists; term and vote must be durable before any message that depends on them."""
        return HardState(self.term, self.vote, self.commit)

    # ------------------------------------------------------------------------------------------------- ready
    def has_ready(self) -> bool:
        return bool(
            self._msgs
            or self._new_entries
            or self.commit > self.applied
            or self.need_broadcast
            or self.need_heartbeat
            or self._read_states
            or self._dropped_reads
            or self._snapshot_out is not None
            or self._truncate_from is not None
            or self._compact_to is not None
            or self._transfer_aborted
            or self._hard_state() != self._persisted
        )

    def ready(self) -> Ready:
        """Everything accumulated since the last call; the runner must handle it as `raftstore.raft.ready` says
        before calling `step`/`tick`/`ready` again."""
        if self.role is Role.LEADER:
            if self.need_heartbeat:
                self.need_heartbeat = False
                self._broadcast_heartbeat()
            if self.need_broadcast:
                self.need_broadcast = False
                for peer, pr in self.progress.items():
                    while self._send_append(peer, pr, False):
                        pass
        hard = self._hard_state()
        ready = Ready(
            hard_state=hard if hard != self._persisted else None,
            snapshot=self._snapshot_out,
            snapshot_data=self._snapshot_data,
            truncate_from=self._truncate_from,
            entries=self._new_entries,
            compact_to=self._compact_to,
            messages=self._msgs,
            read_states=self._read_states,
            dropped_reads=self._dropped_reads,
            transfer_aborted=self._transfer_aborted,
        )
        if self.commit > self.applied:
            ready.committed = self.log.slice(self.applied + 1, self.commit)
            self.applied = self.commit
        self._persisted = hard
        self._msgs = []
        self._new_entries = []
        self._truncate_from = None
        self._compact_to = None
        self._snapshot_out = None
        self._snapshot_data = None
        self._read_states = []
        self._dropped_reads = []
        self._transfer_aborted = False
        return ready
