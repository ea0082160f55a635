"""The FSM protocol the node drives (hashicorp/raft's FSM and BatchingFSM in Python naming).

Threading contract: the node calls `apply`, `apply_batch`, `snapshot` and `restore` from one thread only (its
applier thread), in log order, so an FSM needs no locks of its own for writes. `snapshot()` must be fast (it runs
between applies); the returned object's `persist` runs on another thread while applies go on, so it must read a
point-in-time view (raftstore's FSM hands out an O(1) memdb snapshot). `release()` is called exactly once after
`persist`, successful or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from raftstore.logstore.log import Log


class SnapshotWriter(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> int: ...


class FSMSnapshot(Protocol):
    def persist(self, sink: Any) -> None:
        """Write the whole state to `sink` (a binary writer); raise to abandon the snapshot."""
        ...

    def release(self) -> None: ...


class FSM(Protocol):
    def apply(self, log: Log) -> Any:
        """Apply one committed entry; the return value is the response handed to the future of whoever applied it.
        Raise only when continuing would diverge (the node then stops applying and shuts down)."""
        ...

    def apply_batch(self, logs: Sequence[Log]) -> list[Any]:
        """Apply committed entries in order; one response per entry."""
        ...

    def snapshot(self) -> FSMSnapshot: ...

    def restore(self, reader: BinaryIO) -> None:
        """Replace the whole state with the snapshot read from `reader`."""
        ...
