"""Snapshots: compaction after a snapshot keeping `trailing_logs`, and InstallSnapshot on followers.

Invariant enforced here (Figure 13 rule 6/7, hashicorp/raft #697): a follower installing a snapshot keeps its log
suffix when it holds the snapshot's last entry with the same term, and discards the whole log only on a conflict;
a snapshot at or below the follower's commit index changes nothing.
"""

from __future__ import annotations

from raftstore.logstore.log import LogType
from raftstore.raft.configuration import Configuration
from raftstore.raft.core_base import CoreBase, ProgressState, Role
from raftstore.raft.errors import NotLeaderError, SnapshotError
from raftstore.raft.messages import InstallSnapshotRequest, InstallSnapshotResponse, SnapshotMeta


class SnapshotMixin(CoreBase):
    def snapshot_taken(self, index: int) -> SnapshotMeta:
        """The runner persisted an FSM snapshot covering entries up to `index` (<= applied): record it and compact
        the log to `min(index, last_index - trailing_logs)` (hashicorp compactLogs)."""
        if index > self.applied:
            raise SnapshotError(f"snapshot index {index} is beyond the applied index {self.applied}")
        if index <= self.log.snap_index:
            raise SnapshotError(f"nothing new to snapshot (snapshot index {self.log.snap_index})")
        term = self.log.term_at(index)
        if term is None:  # pragma: no cover - index is within (snap_index, applied], always held
            raise SnapshotError(f"entry {index} is not in the log")
        config_index, configuration = self.configs[0]
        for entry_index, entry_configuration in self.configs:
            if entry_index <= index:
                config_index, configuration = entry_index, entry_configuration
        meta = SnapshotMeta(index, term, configuration, config_index)
        self.snapshot = meta
        self.log.snap_index = index
        self.log.snap_term = term
        compact = min(index, self.log.last_index() - self.config.trailing_logs)
        if compact >= self.log.first_index():
            self._compact(compact)
        return meta

    def user_restore_point(self) -> SnapshotMeta:
        """Leader, for a user restore (hashicorp restoreUserSnapshot): the metadata the restored snapshot must be
        saved under: one index past the log, this term, the latest configuration. The runner saves it durably,
        then calls `user_snapshot_restored`. Requires everything in the log committed and applied, so that nothing
        acknowledged is silently dropped by the restore."""
        if self.role is not Role.LEADER:
            raise NotLeaderError(f"{self.id} is not the leader", self.leader)
        last = self.log.last_index()
        if self.commit != last or self.applied != last:
            raise SnapshotError(f"cannot restore with entries in flight (last {last}, commit {self.commit})")
        index, configuration = self.configs[-1]
        return SnapshotMeta(last + 1, self.term, configuration, index)

    def user_snapshot_restored(self, meta: SnapshotMeta) -> None:
        """The runner saved `meta`'s snapshot durably and restored its FSM from it: it becomes this leader's
        snapshot, the whole log is dropped, and followers catch up by InstallSnapshot (their logs cannot match an
        index that has no entry)."""
        if self.role is not Role.LEADER or meta.term != self.term or meta.index != self.log.last_index() + 1:
            raise SnapshotError("the log moved while the restored snapshot was being saved; restore again")
        self.log.install_snapshot(meta.index, meta.term, keep_suffix=False)
        self.durable_index = meta.index
        self._compact_to = meta.index if self._compact_to is None else max(self._compact_to, meta.index)
        self.configs = [(meta.configuration_index, meta.configuration)]
        self.snapshot = meta
        self.commit = self.applied = meta.index
        for pr in self.progress.values():
            pr.become_probe()
            pr.next = meta.index + 1
        self.need_broadcast = True

    def _handle_install_snapshot(self, m: InstallSnapshotRequest) -> None:
        self._accept_leader(m.source)
        meta = m.meta
        if meta.index <= self.commit:
            self._send(InstallSnapshotResponse(self.id, m.source, self.term, True, self.commit))
            return
        keep = self.log.term_at(meta.index) == meta.term
        self.log.install_snapshot(meta.index, meta.term, keep)
        if not keep:
            self.durable_index = min(self.durable_index, meta.index)
            # Drop the whole log, on disk too, before anything after the snapshot is appended (no gap in between).
            self._new_entries.clear()
            self._truncate_from = 1
        # With `keep`, unwritten entries are still written (they follow the disk's log) and compaction then
        # removes those the snapshot covers.
        self._compact_to = meta.index if self._compact_to is None else max(self._compact_to, meta.index)
        configs: list[tuple[int, Configuration]] = [(meta.configuration_index, meta.configuration)]
        for entry in self.log.entries:
            if entry.type == LogType.CONFIGURATION:
                configs.append((entry.index, Configuration.decode(entry.data)))
        self.configs = configs
        self.snapshot = meta
        self.commit = meta.index
        self.applied = meta.index
        self._snapshot_out = meta
        self._snapshot_data = m.data
        self._send(InstallSnapshotResponse(self.id, m.source, self.term, True, meta.index))

    def _handle_install_snapshot_response(self, m: InstallSnapshotResponse) -> None:
        if self.role is not Role.LEADER:
            return
        pr = self.progress.get(m.source)
        if pr is None:
            return
        pr.last_contact = self.now
        if m.success and m.index > pr.match:
            pr.match = m.index
        if pr.state is ProgressState.SNAPSHOT:
            pr.become_probe()
        self._maybe_commit()
        if self.role is Role.LEADER:
            self._send_append(m.source, pr, True)
