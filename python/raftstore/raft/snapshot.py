"""Snapshots: compaction after a snapshot keeping `trailing_logs`, and InstallSnapshot on followers.

Invariant enforced here (Figure 13 rule 6/7, hashicorp/raft #697): a follower installing a snapshot keeps its log
suffix when it holds the snapshot's last entry with the same term, and discards the whole log only on a conflict;
a snapshot at or below the follower's commit index changes nothing.
"""

from __future__ import annotations

from raftstore.logstore.log import LogType
from raftstore.raft.configuration import Configuration
from raftstore.raft.core_base import CoreBase, ProgressState, Role
from raftstore.raft.errors import SnapshotError
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

    def _handle_install_snapshot(self, m: InstallSnapshotRequest) -> None:
        self._accept_leader(m.source)
        meta = m.meta
        if meta.index <= self.commit:
            self._send(InstallSnapshotResponse(self.id, m.source, self.term, True, self.commit))
            return
        keep = self.log.term_at(meta.index) == meta.term
        self.log.install_snapshot(meta.index, meta.term, keep)
        if not keep:
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
