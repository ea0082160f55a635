"""WALStore: the default log store, the C segmented WAL (csrc/wal.c) behind the LogStore/StableStore protocols."""

from __future__ import annotations

from raftstore.logstore._wal import WALCore
from raftstore.logstore.base import StoreMixin


class WALStore(WALCore, StoreMixin):
    """A directory holding a segmented write-ahead log and the stable store.

    `WALStore(directory, segment_size=64 << 20, sync=True)`. Each `store_logs` batch is one commit frame and one
    fdatasync; reads come from memory-mapped segments and never wait for a sync. `sync=False` skips every
    fdatasync/fsync: UNSAFE, a crash of the machine (not just of the process) can lose or tear acknowledged batches;
    for tests and benchmarks only. Besides the protocols it offers `get_encoded` / `store_encoded` (replication
    batches as the WAL's own frames, encoded once) and `stats()`.
    """

    __slots__ = ()
