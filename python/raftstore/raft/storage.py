"""The core's durable state on real stores: a `LogStore`, a `StableStore` and a `SnapshotStore`.

`RaftStorage.persist(ready)` performs a Ready's writes in the order `raftstore.raft.ready` requires (snapshot,
truncation, entries, hard state, compaction); each store call is durable when it returns, so when `persist` returns
the Ready may be acted on (messages sent, entries applied). `boot_state()` reads everything back for a restart.

What is kept where, and why:
- Entries in the LogStore: `store_logs` for appends (one sync per Ready), `delete_range` for a conflicting suffix
  and for compaction (a prefix; whole WAL segments go at once).
- Term and vote in the StableStore under hashicorp/raft's keys (``CurrentTerm``, ``LastVoteTerm``,
  ``LastVoteCand``), written only when they change: each StableStore write is a durable metadata update of its own,
  and the term and vote change rarely. The commit index is not persisted (hashicorp/raft does not either): after a
  restart the leader tells every follower again, and nothing committed is lost because committed entries are in the
  log.
- A snapshot a follower receives (`ready.snapshot` with `ready.snapshot_data` as bytes) goes to the SnapshotStore,
  its configuration in JSON (`configuration_to_json`). A leader's own snapshot is saved with `save_snapshot` before
  the Ready that compacts the log is persisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from raftstore.logstore.protocols import LogStore, StableStore
from raftstore.raft.configuration import Configuration, Server, Suffrage
from raftstore.raft.core import bootstrap_state
from raftstore.raft.errors import CorruptStateError
from raftstore.raft.messages import SnapshotMeta
from raftstore.raft.ready import BootState, HardState, Ready
from raftstore.raft.snapshots import SnapshotStore

KEY_CURRENT_TERM = b"CurrentTerm"
KEY_LAST_VOTE_TERM = b"LastVoteTerm"
KEY_LAST_VOTE_CANDIDATE = b"LastVoteCand"


def configuration_to_json(configuration: Configuration) -> list[dict[str, Any]]:
    """Consul's shape for a configuration in snapshot metadata: ``[{"ID", "Address", "Suffrage"}]``."""
    return [{"ID": s.id, "Address": s.address, "Suffrage": int(s.suffrage)} for s in configuration.servers]


def configuration_from_json(raw: Any) -> Configuration:
    try:
        return Configuration(tuple(Server(str(s["ID"]), str(s["Address"]), Suffrage(int(s["Suffrage"]))) for s in raw))
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptStateError(f"snapshot metadata holds an unreadable configuration: {error}") from None


@dataclass(frozen=True)
class StoredSnapshot:
    """A received snapshot that was already streamed into the SnapshotStore (chunked InstallSnapshot): its Ready
    needs no second copy, only the id to restore the FSM from."""

    id: str


class RaftStorage:
    """See the module docstring. The stores stay owned by the caller (who closes them)."""

    def __init__(self, logs: LogStore, stable: StableStore, snapshots: SnapshotStore) -> None:
        self.logs = logs
        self.stable = stable
        self.snapshots = snapshots
        self._term = stable.get_uint64(KEY_CURRENT_TERM)
        # The last vote durably cast, as (term, candidate): a vote belongs to its term, so it is written whenever
        # either changes (voting for the same server in a new term is a new vote and must survive a crash too).
        candidate = stable.get(KEY_LAST_VOTE_CANDIDATE)
        self._vote = (stable.get_uint64(KEY_LAST_VOTE_TERM), candidate.decode() if candidate else None)

    def bootstrap(self, configuration: Configuration) -> BootState:
        """hashicorp's BootstrapCluster: write term 1 and the configuration as entry 1, on empty stores only (every
        initial server gets the same state, so their logs agree from the start)."""
        if self._term or self.logs.last_index() or self.snapshots.list():
            raise CorruptStateError("cannot bootstrap: this server already has Raft state")
        boot = bootstrap_state(configuration)
        self.logs.store_logs(boot.entries)
        self.stable.set_uint64(KEY_CURRENT_TERM, boot.hard_state.term)
        self._term = boot.hard_state.term
        return boot

    def boot_state(self) -> BootState:
        """The hard state, the newest snapshot's metadata and every stored entry, validated together."""
        snapshot = None
        metas = self.snapshots.list()
        if metas:
            newest = metas[0]
            snapshot = SnapshotMeta(
                newest.index,
                newest.term,
                configuration_from_json(newest.configuration),
                newest.configuration_index,
            )
        first, last = self.logs.first_index(), self.logs.last_index()
        entries = self.logs.get_logs(first, last) if last else []
        vote_term, candidate = self._vote
        boot = BootState(HardState(self._term, candidate if vote_term == self._term else None, 0), snapshot, entries)
        boot.validate()
        return boot

    def persist(self, ready: Ready) -> None:
        """A Ready's writes, in the required order; durable when this returns."""
        if ready.snapshot is not None and not isinstance(ready.snapshot_data, StoredSnapshot):
            data = ready.snapshot_data
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("a received snapshot's data must be bytes by the time its Ready is persisted")
            self.save_snapshot(ready.snapshot, [bytes(data)])
        if ready.truncate_from is not None:
            last = self.logs.last_index()
            if ready.truncate_from <= last:
                self.logs.delete_range(max(ready.truncate_from, self.logs.first_index()), last)
        if ready.entries:
            self.logs.store_logs(ready.entries)
        hard = ready.hard_state
        if hard is not None:
            if hard.term != self._term:
                self.stable.set_uint64(KEY_CURRENT_TERM, hard.term)
                self._term = hard.term
            if hard.vote is not None and (hard.term, hard.vote) != self._vote:
                # Candidate first, then its term: a crash between the two leaves the old term on the vote, which
                # reads back as "no vote in the current term", and that vote was never sent (sending waits for
                # persist to return).
                self.stable.set(KEY_LAST_VOTE_CANDIDATE, hard.vote.encode())
                self.stable.set_uint64(KEY_LAST_VOTE_TERM, hard.term)
                self._vote = (hard.term, hard.vote)
        if ready.compact_to is not None:
            first = self.logs.first_index()
            upto = min(ready.compact_to, self.logs.last_index())
            if first and first <= upto:
                self.logs.delete_range(first, upto)

    def save_snapshot(self, meta: SnapshotMeta, chunks: Any) -> None:
        """Write a snapshot (an iterable of byte chunks) durably before anything that depends on it."""
        sink = self.snapshots.create(
            meta.index, meta.term, configuration_to_json(meta.configuration), meta.configuration_index
        )
        try:
            for chunk in chunks:
                sink.write(chunk)
        except BaseException:
            sink.cancel()
            raise
        sink.close()

    def open_snapshot(self) -> tuple[SnapshotMeta, BinaryIO] | None:
        """The newest snapshot's metadata and a reader of its data (checked on open), or None."""
        metas = self.snapshots.list()
        if not metas:
            return None
        stored, reader = self.snapshots.open(metas[0].id)
        meta = SnapshotMeta(
            stored.index, stored.term, configuration_from_json(stored.configuration), stored.configuration_index
        )
        return meta, reader
