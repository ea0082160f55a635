"""`Node`: a Raft server that applications run, with hashicorp/raft's API in Python naming.

A node drives one `RaftCore` on an asyncio event loop in a thread of its own, persists through `RaftStorage` (a
LogStore, a StableStore, a SnapshotStore), talks to its peers through a transport, and feeds committed entries to
an FSM on its applier thread. Every public method is thread-safe and returns a `RaftFuture`, which callers wait on
from a thread (`result(timeout)`) or `await` from any event loop.

How a write travels, and why it is fast:
- `apply` queues the command on the loop. Everything queued while the loop was busy becomes one `propose_batch`:
  one `store_logs` (one fsync) and one AppendEntries per follower (group commit).
- The leader sends its appends *before* its own write of them is durable; its fsync then overlaps the followers'
  (etcd thesis 10.2.1). Safety is kept by the core: the leader counts itself toward commit only up to what
  `log_persisted` reported durable. Followers persist before they answer, as Raft requires.
- Disk writes run on a disk thread (the WAL releases the GIL), so the loop keeps receiving and sending meanwhile;
  Readys are still handled strictly one after another, in order.
- The applier thread applies committed entries in merged batches (`apply_batch`) and resolves the futures.

Snapshots: `snapshot()` (or the threshold/interval check) takes an O(1) FSM snapshot between applies, persists it on
a background thread while applies continue, then tells the core, which compacts the log keeping `trailing_logs`.
Followers too far behind receive the newest stored snapshot in chunks (`raftstore.raft.node.streaming`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgpack

from raftstore.logstore.log import LogType
from raftstore.logstore.protocols import LogStore, StableStore
from raftstore.raft import wire
from raftstore.raft.config import Config
from raftstore.raft.configuration import Configuration, Server, Suffrage
from raftstore.raft.core import RaftCore
from raftstore.raft.core_base import Role
from raftstore.raft.errors import (
    CantBootstrapError,
    CorruptStateError,
    LeadershipLostError,
    LeadershipTransferError,
    LeadershipTransferInProgressError,
    NotLeaderError,
    RaftError,
    RaftShutdownError,
    SnapshotError,
)
from raftstore.raft.messages import AppendEntriesRequest, InstallSnapshotRequest, Message, SnapshotMeta
from raftstore.raft.node.applier import Applier
from raftstore.raft.node.fsm import FSM, FSMSnapshot
from raftstore.raft.node.futures import RaftFuture, failed
from raftstore.raft.node.observe import (
    ConfigurationObservation,
    LeaderObservation,
    Observation,
    Observer,
    StateObservation,
)
from raftstore.raft.node.streaming import (
    CHUNK_SIZE,
    SNAPSHOT_ACK_KIND,
    SNAPSHOT_CHUNK_KIND,
    Chunk,
    ChunkAck,
    decode_ack,
    decode_chunk,
    encode_ack,
    encode_chunk,
)
from raftstore.raft.node.transports import Transport, TransportFactory
from raftstore.raft.ready import Ready
from raftstore.raft.snapshots import SnapshotSink, SnapshotStore
from raftstore.raft.storage import RaftStorage, StoredSnapshot, configuration_to_json
from raftstore.raft.transport import Lane

log = logging.getLogger(__name__)

ANNOUNCE_KIND = 66
"""The leader's announcement to every server of its configuration, about once a second and whenever the
configuration changes: ``{"address": its Raft address, "meta": its meta}`` (msgpack). A server that has just joined
has no configuration yet, so this is how it learns where to answer (hashicorp puts the leader's address in every
RPC header for the same reason), and how followers learn the leader's meta, for example the HTTP address an agent
forwards requests to."""
ANNOUNCE_INTERVAL = 1.0


@dataclass
class _Incoming:
    leader: str
    term: int
    meta: SnapshotMeta
    sink: SnapshotSink
    received: int = 0


@dataclass
class _Outgoing:
    index: int
    task: asyncio.Task[None]
    ack: asyncio.Future[ChunkAck] | None = None


class Node:
    """See the module docstring. Create, `start()`, then use; `shutdown()` when done (the stores stay the caller's
    to close)."""

    def __init__(
        self,
        config: Config,
        fsm: FSM,
        logs: LogStore,
        stable: StableStore,
        snapshots: SnapshotStore,
        transport: TransportFactory,
        *,
        meta: Mapping[str, str] | None = None,
        snapshot_chunk_timeout: float = 10.0,
    ) -> None:
        self.config = config.validate()
        self.id = config.local_id
        self.fsm = fsm
        self.storage = RaftStorage(logs, stable, snapshots)
        self.meta = dict(meta or {})
        self.peer_meta: dict[str, dict[str, str]] = {}
        self.address = ""
        self._transport_factory = transport
        self._snapshot_chunk_timeout = snapshot_chunk_timeout

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ident = 0
        self._core: RaftCore | None = None
        self._transport: Transport | None = None
        self._applier: Applier | None = None
        self._disk = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"raft-disk-{self.id}")
        self._snapshotter = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"raft-snap-{self.id}")
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._shutdown_future: RaftFuture | None = None
        self._done: asyncio.Future[None] | None = None

        self._proposals: list[tuple[LogType, bytes, RaftFuture]] = []
        self._inbox: deque[tuple[LogType, bytes, RaftFuture]] = deque()
        self._inbox_scheduled = False
        self._held: list[tuple[LogType, bytes, RaftFuture]] = []
        self._pending: dict[int, tuple[int, RaftFuture]] = {}
        self._changes: list[tuple[Callable[[RaftCore], int], RaftFuture]] = []
        self._restoring = False
        self._snapshotting = False
        self._transfer: RaftFuture | None = None
        self._durable_term_vote: tuple[int, str | None] = (0, None)
        self._last_contact = 0.0
        self._last_snapshot_check = 0.0
        self._last_announce = 0.0
        self._addresses: dict[str, str] = {}
        self._incoming: _Incoming | None = None
        self._outgoing: dict[str, _Outgoing] = {}
        self._observers: list[Observer] = []
        self._handlers: dict[int, Callable[[str, bytes], None]] = {}
        self._seen: tuple[Role, str | None, int] = (Role.FOLLOWER, None, -1)
        self._was_member = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._ready_task: asyncio.Task[None] | None = None

    # ============================================================================================ lifecycle
    def start(self, timeout: float = 30.0) -> Node:
        """Start the loop thread, load the persisted state, restore the FSM from the newest snapshot, and listen.
        Returns once the transport is bound (`address` is then set); raises what went wrong otherwise."""
        if self._thread is not None:
            raise RaftError("node already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._thread_main, args=(started,), name=f"raft-{self.id}", daemon=True)
        self._thread.start()
        started.result(timeout)
        return self

    def _thread_main(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._ident = threading.get_ident()
        try:
            loop.run_until_complete(self._main(started))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._done = loop.create_future()
        try:
            boot = self.storage.boot_state()
            self._new_core(boot)
            self._applier = Applier(self.fsm, self._fatal, name=f"raft-applier-{self.id}")
            snapshots = [] if self.config.no_snapshot_restore_on_start else self.storage.snapshots.list()
            if snapshots:  # the newest, the one boot_state started the core from; opening it verifies it
                newest = snapshots[0]
                self._applier.restore(
                    lambda: self.storage.snapshots.open(newest.id)[1], newest.index, newest.term, None
                )
            self._transport = self._transport_factory(self.id, self._on_message)
            await self._transport.start()
            self.address = self._transport.address
        except BaseException as error:
            if self._applier is not None:
                self._applier.close()
            started.set_exception(error)
            return
        self._ready_task = loop.create_task(self._ready_loop())
        self._tick_handle = loop.call_later(self.config.tick_interval, self._tick)
        started.set_result(None)
        await self._done

    def _new_core(self, boot: Any) -> None:
        core = RaftCore(self.config, boot)
        core.async_persist = True
        self._core = core
        self._durable_term_vote = (boot.hard_state.term, boot.hard_state.vote)
        self._was_member = core.latest_configuration.get(self.id) is not None

    def shutdown(self) -> RaftFuture:
        """Stop the node: pending requests fail with `RaftShutdownError`, the transport closes, queued applies
        finish. Idempotent."""
        if self._shutdown_future is not None:
            return self._shutdown_future
        future = self._shutdown_future = RaftFuture()
        loop = self._loop
        if loop is None or self._thread is None:
            self._close_executors()
            future.resolve(None)
            return future

        def finish() -> None:
            if self._thread is not None and threading.get_ident() != self._thread.ident:
                self._thread.join(30)
            self._close_executors()
            future.resolve(None)

        try:
            loop.call_soon_threadsafe(lambda: loop.create_task(self._shutdown(finish)))
        except RuntimeError:  # the loop already ended (a fatal error shut it down)
            finish()
        return future

    def _close_executors(self) -> None:
        self._disk.shutdown(wait=True)
        self._snapshotter.shutdown(wait=True)

    async def _shutdown(self, finish: Callable[[], None]) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        error = RaftShutdownError("raft is shut down")
        self._drain_inbox()
        self._fail_all(error, error)
        for out in self._outgoing.values():
            out.task.cancel()
        if self._incoming is not None:
            self._incoming.sink.cancel()
            self._incoming = None
        assert self._wake is not None
        self._wake.set()
        if self._ready_task is not None:
            try:
                await self._ready_task
            except Exception:
                log.exception("%s: ready loop failed during shutdown", self.id)
        if self._transport is not None:
            await self._transport.close()
        if self._applier is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._applier.close)
        threading.Thread(target=finish, name=f"raft-shutdown-{self.id}", daemon=True).start()
        assert self._done is not None
        if not self._done.done():
            self._done.set_result(None)

    def _fatal(self, error: BaseException) -> None:
        """Something that must not be continued past (an FSM or disk failure): shut the node down."""
        log.critical("%s: shutting down after a fatal error: %s", self.id, error)
        self.shutdown()

    # ============================================================================================ public API
    def apply(self, data: bytes) -> RaftFuture:
        """Replicate a command; the future resolves to the FSM's response once applied here (hashicorp Apply)."""
        future = RaftFuture()
        if self._loop is None or self._stopping or self._shutdown_future is not None:
            future.fail(RaftShutdownError("raft is shut down"))
            return future
        # Commands from any thread meet in one queue; the loop is woken once per burst, not once per command
        # (a wake-up is a write to the loop's self-pipe: at 64+ in flight that dominated the submit cost).
        self._inbox.append((LogType.COMMAND, bytes(data), future))
        if self._stopping:  # lost the race with shutdown: the loop may never drain this
            future.fail(RaftShutdownError("raft is shut down"))
        elif not self._inbox_scheduled:
            self._inbox_scheduled = True
            self._call(self._drain_inbox)
        return future

    def _drain_inbox(self) -> None:
        self._inbox_scheduled = False
        inbox = self._inbox
        while inbox:
            kind, data, future = inbox.popleft()
            self._enqueue(kind, data, future)

    def barrier(self) -> RaftFuture:
        """Resolves once every entry before it is applied on this leader (hashicorp Barrier)."""
        future = RaftFuture()
        self._call(self._enqueue, LogType.BARRIER, b"", future)
        return future

    def verify_leader(self) -> RaftFuture:
        """Resolves once a quorum confirmed this server is still the leader, and everything committed before the
        call is applied here: a linearizable read may then be served from the FSM (ReadIndex)."""
        future = RaftFuture()

        def run() -> None:
            try:
                self._leader_core().read_index(future)
            except RaftError as error:
                future.fail(error)
            self._kick()

        self._call(run)
        return future

    def add_voter(self, server_id: str, address: str, prev_index: int = 0) -> RaftFuture:
        return self._membership(lambda core: core.add_voter(server_id, address, prev_index))

    def add_nonvoter(self, server_id: str, address: str, prev_index: int = 0) -> RaftFuture:
        return self._membership(lambda core: core.add_nonvoter(server_id, address, prev_index))

    def remove_server(self, server_id: str, prev_index: int = 0) -> RaftFuture:
        return self._membership(lambda core: core.remove_server(server_id, prev_index))

    def demote_voter(self, server_id: str, prev_index: int = 0) -> RaftFuture:
        return self._membership(lambda core: core.demote_voter(server_id, prev_index))

    def leadership_transfer(self, target: str | None = None) -> RaftFuture:
        """Hand leadership to `target` (or the most up-to-date voter); resolves once this server stepped down,
        fails if the transfer timed out."""
        future = RaftFuture()

        def run() -> None:
            try:
                self._leader_core().transfer_leadership(target)
            except RaftError as error:
                future.fail(error)
                return
            self._transfer = future
            self._kick()

        self._call(run)
        return future

    def snapshot(self) -> RaftFuture:
        """Take a snapshot now (hashicorp Snapshot); resolves to the stored snapshot's metadata."""
        future = RaftFuture()
        self._call(self._start_snapshot, future)
        return future

    def restore(self, reader: BinaryIO) -> RaftFuture:
        """Replace the whole replicated state with the FSM snapshot read from `reader` (hashicorp Restore): leader
        only; followers receive it by InstallSnapshot. Resolves once the restored state is committed."""
        future = RaftFuture()
        self._call(lambda: asyncio.get_running_loop().create_task(self._user_restore(reader, future)))
        return future

    def bootstrap_cluster(self, configuration: Configuration) -> RaftFuture:
        """Write the initial configuration on a server with no Raft state (hashicorp BootstrapCluster); fails with
        `CantBootstrapError` otherwise. Every initial server may be given the same configuration."""
        future = RaftFuture()

        def run() -> None:
            try:
                boot = self.storage.bootstrap(configuration)
            except CorruptStateError as error:
                future.fail(CantBootstrapError(str(error)))
                return
            self._new_core(boot)
            future.resolve(None)
            self._kick()

        self._call(run)
        return future

    def get_configuration(self) -> RaftFuture:
        """Resolves to (index, Configuration) of the latest configuration."""
        future = RaftFuture()
        self._call(lambda: future.resolve(self._require_core().get_configuration()))
        return future

    def register_observer(
        self, callback: Callable[[Observation], None], filter: Callable[[Observation], bool] | None = None
    ) -> Observer:
        observer = Observer(callback, filter)
        self._observers.append(observer)
        return observer

    def deregister_observer(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def register_handler(self, kind: int, handler: Callable[[str, bytes], None]) -> None:
        """Receive frames of an application-defined `kind` (>= 100) over the Raft transport: `handler(sender id,
        payload)` runs on the node's loop thread and must not block. Agents use it to find and join peers; raising
        `raftstore.raft.wire.WireError` drops the frame with a log line."""
        if kind < 100:
            raise ValueError("frame kinds below 100 are reserved for Raft")
        self._handlers[kind] = handler

    def send_frame(self, address: str, kind: int, payload: bytes) -> None:
        """Send an application-defined frame to `address` (fire and forget, like every Raft message)."""
        if kind < 100:
            raise ValueError("frame kinds below 100 are reserved for Raft")

        def run() -> None:
            if self._transport is not None:
                self._transport.send(address, kind, payload)

        self._call(run)

    # ---------------------------------------------------------------------------- status (cheap, any thread)
    def latest_configuration(self) -> tuple[int, Configuration]:
        """(index, configuration) of the latest configuration, read without a round trip to the loop."""
        core = self._core
        if core is None:
            return 0, Configuration()
        index, configuration = core.configs[-1]
        return index, configuration

    def replication_status(self) -> dict[str, tuple[float, int]]:
        """Leader only: per follower, (seconds since it last answered, its match index); {} elsewhere. What
        autopilot judges server health by."""
        core = self._core
        if core is None or core.role is not Role.LEADER:
            return {}
        tick = self.config.tick_interval
        return {peer: ((core.now - pr.last_contact) * tick, pr.match) for peer, pr in list(core.progress.items())}

    def last_term(self) -> int:
        core = self._core
        return core.log.last_term() if core is not None else 0

    def has_state(self) -> bool:
        """Whether this server holds any Raft state (a bootstrapped or joined server does)."""
        core = self._core
        return core is not None and (core.term > 0 or core.log.last_index() > 0)

    def state(self) -> Role:
        core = self._core
        return core.role if core is not None else Role.FOLLOWER

    def is_leader(self) -> bool:
        return self.state() is Role.LEADER

    def leader(self) -> tuple[str, str]:
        """(address, id) of the known leader, ("", "") when none (hashicorp LeaderWithID)."""
        core = self._core
        leader = core.leader if core is not None else None
        if not leader:
            return "", ""
        if leader == self.id:
            return self.address, leader
        return self._address_of(leader) or "", leader

    def leader_meta(self) -> dict[str, str]:
        """The leader's `meta` (this server's own when it leads), {} while unknown."""
        _, leader = self.leader()
        if leader == self.id:
            return dict(self.meta)
        return dict(self.peer_meta.get(leader, {}))

    def last_contact(self) -> float:
        """Seconds since the leader was last heard from; 0 on the leader; inf when never."""
        if self.is_leader():
            return 0.0
        if not self._last_contact:
            return float("inf")
        return time.monotonic() - self._last_contact

    def applied_index(self) -> int:
        applier = self._applier
        return applier.applied_index if applier is not None else 0

    def last_index(self) -> int:
        core = self._core
        return core.log.last_index() if core is not None else 0

    def commit_index(self) -> int:
        core = self._core
        return core.commit if core is not None else 0

    def stats(self) -> dict[str, str]:
        """hashicorp Stats(): every value a string, with the same keys."""
        core = self._require_core()
        status = core.status()
        index, configuration = core.configs[-1]
        contact = self.last_contact()
        return {
            "state": _ROLE_NAMES[core.role],
            "term": str(core.term),
            "last_log_index": str(core.log.last_index()),
            "last_log_term": str(core.log.last_term()),
            "commit_index": str(core.commit),
            "applied_index": str(self.applied_index()),
            "fsm_pending": str(max(0, core.applied - self.applied_index())),
            "last_snapshot_index": str(core.log.snap_index),
            "last_snapshot_term": str(core.log.snap_term),
            "protocol_version": str(self.config.protocol_version),
            "protocol_version_min": "0",
            "protocol_version_max": "3",
            "snapshot_version_min": "0",
            "snapshot_version_max": "1",
            "latest_configuration": _format_configuration(configuration),
            "latest_configuration_index": str(index),
            "num_peers": str(status["num_peers"]),
            "last_contact": _format_contact(contact),
        }

    # ============================================================================================ loop side
    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the loop; fail any future argument if the node is not running."""
        loop = self._loop
        if loop is None or self._stopping or self._shutdown_future is not None:
            self._fail_args(args)
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            self._fail_args(args)

    @staticmethod
    def _fail_args(args: tuple[Any, ...]) -> None:
        error = RaftShutdownError("raft is shut down")
        for arg in args:
            if isinstance(arg, RaftFuture):
                arg.fail(error)

    def _require_core(self) -> RaftCore:
        if self._core is None:
            raise RaftShutdownError("the node has not started")
        return self._core

    def _leader_core(self) -> RaftCore:
        core = self._require_core()
        if core.role is not Role.LEADER:
            raise NotLeaderError(f"{self.id} is not the leader", core.leader)
        return core

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _enqueue(self, kind: LogType, data: bytes, future: RaftFuture) -> None:
        core = self._core
        if core is None or core.role is not Role.LEADER:
            future.fail(NotLeaderError(f"{self.id} is not the leader", core.leader if core else None))
            return
        if core.transfer_target is not None:
            future.fail(LeadershipTransferInProgressError(f"leadership is moving to {core.transfer_target}"))
            return
        (self._held if self._restoring else self._proposals).append((kind, data, future))
        self._kick()

    def _membership(self, change: Callable[[RaftCore], int]) -> RaftFuture:
        """Queue a configuration change; it is proposed once the previous one has committed (hashicorp's leader
        loop waits the same way), so callers need not retry around a fresh leader or a change in flight."""
        future = RaftFuture()

        def run() -> None:
            core = self._core
            if core is None or core.role is not Role.LEADER:
                future.fail(NotLeaderError(f"{self.id} is not the leader", core.leader if core else None))
                return
            self._changes.append((change, future))
            self._kick()

        self._call(run)
        return future

    def _flush_changes(self) -> None:
        """Propose the next queued configuration change when the configuration is stable."""
        core = self._core
        if not self._changes or core is None or core.role is not Role.LEADER:
            return
        if core.latest_configuration_index > core.commit or core.commit < core.term_start_index:
            return
        change, future = self._changes.pop(0)
        try:
            index = change(core)
        except RaftError as error:
            future.fail(error)
            return
        future.index = index
        self._pending[index] = (core.term, future)

    def _flush_proposals(self) -> None:
        proposals = self._proposals
        if not proposals:
            return
        self._proposals = []
        core = self._require_core()
        if core.role is not Role.LEADER:
            error = NotLeaderError(f"{self.id} is not the leader", core.leader)
            for _, _, future in proposals:
                future.fail(error)
            return
        try:
            first = core.propose_batch([(kind, data) for kind, data, _ in proposals], time.time())
        except RaftError as error:
            for _, _, future in proposals:
                future.fail(error)
            return
        term, pending = core.term, self._pending
        for offset, (_, _, future) in enumerate(proposals):
            future.index = first + offset
            pending[first + offset] = (term, future)

    async def _ready_loop(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._stopping:
            await wake.wait()
            wake.clear()
            try:
                while not self._stopping:
                    self._flush_proposals()
                    self._flush_changes()
                    core = self._require_core()
                    if not core.has_ready():
                        break
                    await self._handle_ready(core, core.ready())
                    self._observe()
            except Exception as error:  # a disk failure: nothing after it may be acknowledged
                log.critical("%s: failed to persist Raft state: %s", self.id, error, exc_info=True)
                self._fatal(error)
                return

    async def _handle_ready(self, core: RaftCore, ready: Ready) -> None:
        hard = ready.hard_state
        term_vote_changed = hard is not None and (hard.term, hard.vote) != self._durable_term_vote
        # A leader's appends and heartbeats promise nothing about its own disk: send them before the fsync.
        early = core.role is Role.LEADER and not term_vote_changed
        if early:
            self._send_all(ready.messages)
        writes = (
            ready.entries
            or ready.snapshot is not None
            or ready.truncate_from is not None
            or ready.compact_to is not None
            or term_vote_changed
        )
        if writes:
            point = (core.log.last_index(), core.log.last_term())
            await asyncio.get_running_loop().run_in_executor(self._disk, self.storage.persist, ready)
            if hard is not None:
                self._durable_term_vote = (hard.term, hard.vote)
            core.log_persisted(*point)
        applier = self._applier
        assert applier is not None
        if ready.snapshot is not None:
            data = ready.snapshot_data
            snapshot_id = data.id if isinstance(data, StoredSnapshot) else self.storage.snapshots.list()[0].id
            applier.restore(
                lambda: self.storage.snapshots.open(snapshot_id)[1], ready.snapshot.index, ready.snapshot.term, None
            )
        if not early:
            self._send_all(ready.messages)
        if ready.committed:
            self._hand_to_applier(applier, ready)
        for read in ready.read_states:
            applier.resolve_at(read.context)
        if ready.dropped_reads:
            lost = LeadershipLostError("leadership lost before the read was confirmed")
            for context in ready.dropped_reads:
                context.fail(lost)
        if ready.transfer_aborted and self._transfer is not None:
            self._transfer.fail(LeadershipTransferError("leadership transfer timed out"))
            self._transfer = None

    def _hand_to_applier(self, applier: Applier, ready: Ready) -> None:
        entries = ready.committed
        pending = self._pending
        if not pending:
            applier.apply(entries, [None] * len(entries))
            return
        futures: list[RaftFuture | None] = []
        for entry in entries:
            item = pending.pop(entry.index, None)
            if item is None:
                futures.append(None)
            elif item[0] != entry.term:
                item[1].fail(LeadershipLostError("leadership lost; the entry was replaced"))
                futures.append(None)
            else:
                futures.append(item[1])
        applier.apply(entries, futures)

    # ------------------------------------------------------------------------------------------- messages
    def _address_of(self, server_id: str) -> str | None:
        core = self._core
        if core is None:
            return None
        for _, configuration in reversed(core.configs):
            server = configuration.get(server_id)
            if server is not None:
                return server.address
        return self._addresses.get(server_id)

    def _send_all(self, messages: list[Message]) -> None:
        transport = self._transport
        if transport is None:
            return
        for message in messages:
            if isinstance(message, InstallSnapshotRequest):
                self._send_snapshot(message)
                continue
            address = self._address_of(message.target)
            if not address:
                continue
            kind, body = wire.encode(message)
            lane = Lane.DATA if isinstance(message, AppendEntriesRequest) and message.entries else Lane.CONTROL
            transport.send(address, kind, body, lane)

    def _on_message(self, sender: str, kind: int, payload: bytes) -> None:
        """Transport callback; hops to the loop thread when called from another (the in-memory transport)."""
        if threading.get_ident() != self._ident:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._on_message, sender, kind, bytes(payload))
            return
        if self._stopping or self._core is None:
            return
        try:
            if kind in wire.CLASSES:
                self._step(sender, wire.decode(kind, payload))
            elif kind == SNAPSHOT_CHUNK_KIND:
                self._on_chunk(sender, decode_chunk(payload))
            elif kind == SNAPSHOT_ACK_KIND:
                self._on_chunk_ack(sender, decode_ack(payload))
            elif kind == ANNOUNCE_KIND:
                self._on_announce(sender, payload)
            elif kind in self._handlers:
                self._handlers[kind](sender, payload)
            else:
                log.warning("%s: dropped a frame of unknown kind %d from %s", self.id, kind, sender)
        except wire.WireError as error:
            log.warning("%s: dropped a malformed frame from %s: %s", self.id, sender, error)

    def _step(self, sender: str, message: Message) -> None:
        core = self._require_core()
        if message.target != self.id or message.source != sender:
            log.warning(
                "%s: dropped a message from %s claiming %s -> %s", self.id, sender, message.source, message.target
            )
            return
        if isinstance(message, InstallSnapshotRequest) and not isinstance(message.data, (bytes, StoredSnapshot)):
            log.warning("%s: dropped an InstallSnapshot without data from %s", self.id, sender)
            return
        try:
            core.step(message)
        except RaftError as error:
            log.warning("%s: refused a message from %s: %s", self.id, sender, error)
            return
        if core.leader == sender:
            self._last_contact = time.monotonic()
        self._kick()

    def _announce(self) -> None:
        core, transport = self._core, self._transport
        if core is None or transport is None or core.role is not Role.LEADER:
            return
        self._last_announce = time.monotonic()
        payload = msgpack.packb({"address": self.address, "meta": self.meta}, use_bin_type=True)
        for server in core.latest_configuration.servers:
            if server.id != self.id and server.address:
                transport.send(server.address, ANNOUNCE_KIND, payload)

    def _on_announce(self, sender: str, payload: bytes) -> None:
        try:
            raw = msgpack.unpackb(payload, raw=False)
        except (ValueError, msgpack.UnpackException) as error:
            raise wire.WireError(f"announce: malformed msgpack: {error}") from None
        address = raw.get("address") if isinstance(raw, dict) else None
        meta = raw.get("meta") if isinstance(raw, dict) else None
        if (
            not isinstance(address, str)
            or not address
            or not isinstance(meta, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
        ):
            raise wire.WireError("announce: expected {address: str, meta: {str: str}}")
        self._addresses[sender] = address
        self.peer_meta[sender] = meta

    # ------------------------------------------------------------------------------------------- ticking
    def _tick(self) -> None:
        if self._stopping:
            return
        loop = self._loop
        assert loop is not None
        self._tick_handle = loop.call_later(self.config.tick_interval, self._tick)
        core = self._require_core()
        core.tick()
        self._kick()
        now = time.monotonic()
        if core.role is Role.LEADER and now - self._last_announce >= ANNOUNCE_INTERVAL:
            self._announce()
        if now - self._last_snapshot_check >= min(self.config.snapshot_interval, 5.0):
            self._last_snapshot_check = now
            if (
                not self._snapshotting
                and self.config.snapshot_threshold > 0
                and self.applied_index() - core.log.snap_index >= self.config.snapshot_threshold
            ):
                self._start_snapshot(None)

    def _observe(self) -> None:
        """Report role, leader and configuration changes; settle what a role change settles."""
        core = self._require_core()
        role, leader, config_index = core.role, core.leader, core.latest_configuration_index
        old_role, old_leader, old_index = self._seen
        if self._was_member and core.latest_configuration.get(self.id) is None:
            self._check_removed(core)
        if (role, leader, config_index) == self._seen:
            return
        self._seen = (role, leader, config_index)
        if old_role is Role.LEADER and role is not Role.LEADER:
            self._fail_all(
                NotLeaderError(f"{self.id} is not the leader", leader),
                LeadershipLostError("leadership lost before the entry committed"),
                keep_upto=core.commit,
            )
            if self._transfer is not None:
                self._transfer.resolve(None)
                self._transfer = None
        observations: list[Observation] = []
        if role is not old_role or leader != old_leader:
            log.info("%s: %s in term %d, leader %s", self.id, role.value, core.term, leader or "unknown")
        if role is not old_role:
            observations.append(StateObservation(role))
            self._announce()
        if leader != old_leader:
            observations.append(LeaderObservation(leader or "", self.leader()[0]))
        if config_index != old_index:
            observations.append(ConfigurationObservation(config_index, core.latest_configuration))
            self._announce()
            if core.latest_configuration.get(self.id) is not None:
                self._was_member = True
        for observation in observations:
            for observer in list(self._observers):
                observer.notify(observation)

    def _check_removed(self, core: RaftCore) -> None:
        """hashicorp ShutdownOnRemove: once a committed configuration no longer holds this server, stop."""
        _, committed = core.committed_configuration()
        if committed.get(self.id) is None and self.config.shutdown_on_remove and not self._stopping:
            log.info("%s: removed from the configuration; shutting down", self.id)
            self.shutdown()

    def _fail_all(self, not_leader: BaseException, lost: BaseException, keep_upto: int = 0) -> None:
        """Fail every request waiting on leadership; entries already committed (index <= `keep_upto`) keep their
        futures, which resolve when applied (a leader that removed itself steps down as its removal commits)."""
        for _, _, future in self._proposals + self._held:
            future.fail(not_leader)
        self._proposals, self._held = [], []
        for _, future in self._changes:
            future.fail(not_leader)
        self._changes = []
        pending, self._pending = self._pending, {}
        for index, (term, future) in pending.items():
            if index <= keep_upto:
                self._pending[index] = (term, future)
            else:
                future.fail(lost)

    # ------------------------------------------------------------------------------------------- snapshots
    def _start_snapshot(self, future: RaftFuture | None) -> None:
        if self._snapshotting:
            if future is not None:
                future.fail(SnapshotError("a snapshot is already in progress"))
            return
        applier = self._applier
        loop = self._loop
        assert applier is not None and loop is not None
        self._snapshotting = True

        def taken(snap: FSMSnapshot | None, index: int, term: int, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(self._snapshot_taken, snap, index, term, error, future)
            except RuntimeError:  # shut down meanwhile
                if snap is not None:
                    snap.release()

        applier.snapshot(taken)

    def _snapshot_taken(
        self, snap: FSMSnapshot | None, index: int, term: int, error: BaseException | None, future: RaftFuture | None
    ) -> None:
        core = self._require_core()
        if snap is None or error is not None:
            self._snapshot_done(future, error or SnapshotError("the FSM gave no snapshot"))
            return
        if index <= core.log.snap_index:
            snap.release()
            self._snapshot_done(future, SnapshotError("nothing new to snapshot"))
            return
        config_index, configuration = core.configs[0]
        for entry_index, entry_configuration in core.configs:
            if entry_index <= index:
                config_index, configuration = entry_index, entry_configuration
        store = self.storage.snapshots

        def persist() -> Any:
            sink = store.create(index, term, configuration_to_json(configuration), config_index)
            try:
                snap.persist(sink)
            except BaseException:
                sink.cancel()
                raise
            finally:
                snap.release()
            return sink.close()

        async def run() -> None:
            try:
                stored = await asyncio.get_running_loop().run_in_executor(self._snapshotter, persist)
            except Exception as error:
                log.error("%s: snapshot at index %d failed: %s", self.id, index, error)
                self._snapshot_done(future, error)
                return
            try:
                self._require_core().snapshot_taken(index)
            except SnapshotError as error:  # a newer snapshot was installed meanwhile: this one is just older
                log.info("%s: snapshot at %d superseded: %s", self.id, index, error)
            log.info("%s: snapshot saved at index %d (term %d)", self.id, index, term)
            self._kick()
            self._snapshot_done(future, None, stored)

        asyncio.get_running_loop().create_task(run())

    def _snapshot_done(self, future: RaftFuture | None, error: BaseException | None, value: Any = None) -> None:
        self._snapshotting = False
        if future is None:
            return
        if error is not None:
            future.fail(error)
        else:
            future.resolve(value)

    async def _user_restore(self, reader: BinaryIO, future: RaftFuture) -> None:
        try:
            await self.barrier()
            core = self._leader_core()
            meta = core.user_restore_point()
        except RaftError as error:
            future.fail(error)
            return
        self._restoring = True
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._disk, self.storage.save_snapshot, meta, iter(lambda: reader.read(CHUNK_SIZE), b"")
            )
            core = self._leader_core()
            core.user_snapshot_restored(meta)  # raises if the log moved: nothing was restored then
        except Exception as error:
            future.fail(error)
            return
        finally:
            self._restoring = False
            self._proposals.extend(self._held)
            self._held = []
        stored_id = next(s.id for s in self.storage.snapshots.list() if s.index == meta.index)
        restored = RaftFuture()
        assert self._applier is not None
        self._applier.restore(lambda: self.storage.snapshots.open(stored_id)[1], meta.index, meta.term, restored)
        self._kick()
        try:
            await restored
            await self.barrier()
        except Exception as error:
            future.fail(error)
            return
        future.index = meta.index
        future.resolve(None)

    def _send_snapshot(self, message: InstallSnapshotRequest) -> None:
        target, index = message.target, message.meta.index
        running = self._outgoing.get(target)
        if running is not None and not running.task.done():
            if running.index == index:
                return  # already on its way; the core asked again after an election timeout
            running.task.cancel()
        loop = asyncio.get_running_loop()
        out = _Outgoing(index, loop.create_task(self._stream_snapshot(target, message.term, message.meta)))
        self._outgoing[target] = out

    async def _stream_snapshot(self, target: str, term: int, meta: SnapshotMeta) -> None:
        loop = asyncio.get_running_loop()
        store = self.storage.snapshots
        stored = next((s for s in store.list() if s.index == meta.index and s.term == meta.term), None)
        if stored is None:
            log.warning("%s: snapshot %d-%d to send to %s is no longer stored", self.id, meta.term, meta.index, target)
            return
        try:
            _, reader = await loop.run_in_executor(self._snapshotter, store.open, stored.id)
        except Exception as error:
            log.error("%s: cannot open snapshot %s for %s: %s", self.id, stored.id, target, error)
            return
        try:
            offset = 0
            while True:
                data = await loop.run_in_executor(self._snapshotter, reader.read, CHUNK_SIZE)
                done = offset + len(data) >= stored.size
                core = self._core
                address = self._address_of(target)
                if core is None or core.role is not Role.LEADER or core.term != term or not address:
                    return
                out = self._outgoing[target]
                out.ack = loop.create_future()
                assert self._transport is not None
                payload = encode_chunk(Chunk(term, meta, offset, data, done))
                self._transport.send(address, SNAPSHOT_CHUNK_KIND, payload, Lane.DATA)
                try:
                    ack = await asyncio.wait_for(out.ack, self._snapshot_chunk_timeout)
                except TimeoutError:
                    log.warning("%s: snapshot chunk at %d to %s timed out", self.id, offset, target)
                    return
                if not ack.ok:
                    log.warning("%s: %s refused snapshot chunk at %d", self.id, target, offset)
                    return
                offset += len(data)
                if done:
                    log.info("%s: sent snapshot %s (%d bytes) to %s", self.id, stored.id, offset, target)
                    return
        finally:
            reader.close()

    def _on_chunk_ack(self, sender: str, ack: ChunkAck) -> None:
        out = self._outgoing.get(sender)
        if out is not None and out.ack is not None and not out.ack.done() and out.index == ack.index:
            out.ack.set_result(ack)

    def _ack_chunk(self, leader: str, term: int, index: int, next_offset: int, ok: bool) -> None:
        address = self._address_of(leader)
        if address and self._transport is not None:
            self._transport.send(address, SNAPSHOT_ACK_KIND, encode_ack(ChunkAck(term, index, next_offset, ok)))

    def _on_chunk(self, sender: str, chunk: Chunk) -> None:
        core = self._require_core()
        meta = chunk.meta
        if chunk.term < core.term:
            self._ack_chunk(sender, core.term, meta.index, 0, False)
            return
        incoming = self._incoming
        if chunk.offset == 0:
            if incoming is not None:
                incoming.sink.cancel()
            sink = self.storage.snapshots.create(
                meta.index, meta.term, configuration_to_json(meta.configuration), meta.configuration_index
            )
            incoming = self._incoming = _Incoming(sender, chunk.term, meta, sink)
        elif (
            incoming is None
            or incoming.leader != sender
            or incoming.meta.index != meta.index
            or incoming.received != chunk.offset
        ):
            self._ack_chunk(sender, core.term, meta.index, 0, False)
            return
        try:
            incoming.sink.write(chunk.data)
        except OSError as error:
            log.error("%s: cannot store snapshot chunk: %s", self.id, error)
            incoming.sink.cancel()
            self._incoming = None
            self._ack_chunk(sender, core.term, meta.index, 0, False)
            return
        incoming.received += len(chunk.data)
        if not chunk.done:
            self._ack_chunk(sender, chunk.term, meta.index, incoming.received, True)
            return
        self._incoming = None
        asyncio.get_running_loop().create_task(self._finish_incoming(incoming))

    async def _finish_incoming(self, incoming: _Incoming) -> None:
        try:
            stored = await asyncio.get_running_loop().run_in_executor(self._disk, incoming.sink.close)
        except Exception as error:
            log.error("%s: cannot store the received snapshot: %s", self.id, error)
            self._ack_chunk(incoming.leader, incoming.term, incoming.meta.index, 0, False)
            return
        self._ack_chunk(incoming.leader, incoming.term, incoming.meta.index, incoming.received, True)
        if self._stopping:
            return
        request = InstallSnapshotRequest(
            incoming.leader, self.id, incoming.term, incoming.meta, StoredSnapshot(stored.id)
        )
        self._step(incoming.leader, request)


_ROLE_NAMES = {
    Role.FOLLOWER: "Follower",
    Role.PRE_CANDIDATE: "Candidate",
    Role.CANDIDATE: "Candidate",
    Role.LEADER: "Leader",
}


def _format_contact(seconds: float) -> str:
    if seconds == 0:
        return "0"
    return "never" if seconds == float("inf") else f"{seconds * 1000:.3f}ms"


def _format_configuration(configuration: Configuration) -> str:
    """hashicorp's `fmt` of a configuration, which tools parse: [{Suffrage:Voter ID:a Address:host:port} ...]."""
    servers = " ".join(
        f"{{Suffrage:{'Voter' if s.suffrage is Suffrage.VOTER else 'Nonvoter'} ID:{s.id} Address:{s.address}}}"
        for s in configuration.servers
    )
    return f"[{servers}]"


def single_server_configuration(server_id: str, address: str) -> Configuration:
    return Configuration((Server(server_id, address, Suffrage.VOTER),))


__all__ = ["Node", "failed", "single_server_configuration"]
