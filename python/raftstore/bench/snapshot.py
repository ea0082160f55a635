"""The snapshot-store layer of `raftstore bench`: writing a Raft snapshot durably and reading it back, through
hashicorp/raft's SnapshotStore protocol (`create(index, term, configuration, configuration_index)` -> a sink to
`write` and `close`; `list()`; `open(id)` -> (meta, reader)), so a user's own store plugs in as it would plug into
`raftstore.raft`.

Backends: `FileSnapshotStore` (raftstore's: state and metadata fsynced, SHA-256 recorded and verified on open, an
atomic rename, retention), `MemorySnapshotStore` (the no-disk ceiling), and the physical floor: the same bytes
written to a plain file with one fsync and an atomic rename, read back with no check. A plugin is called with a
fresh directory of its own (or with nothing, if it takes no argument).

Workloads, in bytes per second: ``create`` writes the state in 1 MiB chunks and closes the sink (durable once it
returns); ``open + read`` opens the newest snapshot and reads it to the end in 1 MiB chunks, as a restore does
(`FileSnapshotStore.open` reads the whole file once first, to verify its size and SHA-256). Every backend's first
snapshot is read back and compared with what was written (untimed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftstore.bench.harness import BackendSpec, Context, Workload, call_factory
from raftstore.raft.snapshots import FileSnapshotStore, MemorySnapshotStore

CHUNK = 1 << 20
QUICK_BYTES = 4 << 20
FULL_BYTES = 64 << 20
CONFIGURATION = {"servers": [{"id": "a", "address": "127.0.0.1:8300", "suffrage": "voter"}]}


@dataclass
class Dataset:
    state: bytes
    root: Path


class FloorStore:
    """The physical floor of a durable snapshot: one file written, fsynced and renamed into place, then the
    directory fsynced; no metadata, no checksum, no retention (the newest file replaces the previous one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.latest: Path | None = None

    def create(self, index: int, term: int, configuration: Any, configuration_index: int) -> _FloorSink:
        return _FloorSink(self, self.directory / f"{term}-{index}.bin")

    def list(self) -> list[Any]:
        return [self.latest] if self.latest is not None else []

    def open(self, snapshot_id: Any) -> tuple[Any, Any]:
        return snapshot_id, open(snapshot_id, "rb")  # the caller closes it


class _FloorSink:
    def __init__(self, store: FloorStore, path: Path) -> None:
        self.store = store
        self.path = path
        self.file = open(path.with_suffix(".tmp"), "wb")  # noqa: SIM115  # closed by close()

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def close(self) -> Path:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.rename(self.path.with_suffix(".tmp"), self.path)
        descriptor = os.open(self.store.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if self.store.latest is not None and self.store.latest != self.path:
            self.store.latest.unlink(missing_ok=True)
        self.store.latest = self.path
        return self.path


class Adapter:
    """One store and the index its next snapshot takes."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.next_index = 1

    def create(self, state: bytes) -> Any:
        sink = self.store.create(self.next_index, 1, CONFIGURATION, 1)
        self.next_index += 1
        view = memoryview(state)
        for at in range(0, len(view), CHUNK):
            sink.write(view[at : at + CHUNK])
        return sink.close()

    def read_newest(self) -> list[bytes]:
        """The newest snapshot's state in chunks of CHUNK bytes, read as a restore reads it."""
        newest = self.store.list()[0]
        snapshot_id = getattr(newest, "id", newest)
        _, reader = self.store.open(snapshot_id)
        with reader:
            return list(iter(lambda: bytes(reader.read(CHUNK)), b""))


def _create(ctx: Context) -> int:
    ctx.backend.create(ctx.data.state)
    return len(ctx.data.state)


def _prepare_read(ctx: Context) -> None:
    if not ctx.backend.store.list():
        ctx.backend.create(ctx.data.state)


def _read(ctx: Context) -> int:
    return sum(len(chunk) for chunk in ctx.backend.read_newest())


def _check(ctx: Context) -> None:
    read = b"".join(ctx.backend.read_newest())
    assert read == ctx.data.state, "the snapshot read back differs from what was written"


class SnapshotLayer:
    name = "snapshot"
    default_baseline = "FileSnapshotStore"

    def prepare(self, quick: bool) -> Dataset:
        base = os.environ.get("RAFTSTORE_BENCH_DIR") or None
        root = Path(tempfile.mkdtemp(prefix="raftstore-bench-snapshot-", dir=base))
        return Dataset(os.urandom(QUICK_BYTES if quick else FULL_BYTES), root)

    def parameters(self, data: Dataset) -> dict[str, Any]:
        return {"state_bytes": len(data.state), "chunk_bytes": CHUNK, "directory": str(data.root.parent)}

    def workloads(self) -> list[Workload]:
        return [
            Workload("create (durable)", _create, check=_check, unit="B"),
            Workload("open + read", _read, prepare=_prepare_read, check=_check, unit="B"),
        ]

    def backends(self) -> list[BackendSpec]:
        return [
            BackendSpec("FileSnapshotStore", lambda data: Adapter(FileSnapshotStore(data.root / "file", retain=2))),
            BackendSpec("MemorySnapshotStore", lambda data: Adapter(MemorySnapshotStore())),
            BackendSpec("floor (file + fsync + rename)", lambda data: Adapter(FloorStore(data.root / "floor"))),
        ]

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A user's SnapshotStore: a class or factory called with a fresh directory (or with nothing)."""

        def create(data: Dataset) -> Adapter:
            directory = data.root / f"plugin-{name}"
            directory.mkdir(parents=True, exist_ok=True)
            return Adapter(call_factory(implementation, directory))

        return BackendSpec(name, create, origin="plugin")

    def close(self, data: Dataset) -> None:
        shutil.rmtree(data.root, ignore_errors=True)
