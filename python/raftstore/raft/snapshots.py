"""Raft snapshot stores: where FSM snapshots live between their creation and the next one (hashicorp/raft's
SnapshotStore, after file_snapshot.go and inmem_snapshot.go).

A snapshot is a `SnapshotMeta` plus an opaque byte stream (the FSM's `persist` output). `create()` returns a
`SnapshotSink` that the FSM writes into; `close()` makes it durable and visible, `cancel()` throws it away. `list()`
returns the metadata newest first; `open(id)` returns the metadata and a reader.

`FileSnapshotStore` layout: ``<base>/snapshots/<term>-<index>-<unix ms>/{meta.json,state.bin}``. Why it is built this
way:
- A snapshot is written under ``<id>.tmp`` and renamed into place only after `state.bin`, `meta.json` and the
  directory are fsynced, so a crash never leaves a half-written snapshot that `list()` would offer; leftover
  ``.tmp`` directories are removed when the store is opened.
- `meta.json` records the size and the SHA-256 of `state.bin`; `open()` verifies both before handing out a reader,
  so a damaged snapshot is refused with `SnapshotCorruptError` (naming the file) instead of being restored into the
  FSM. SHA-256 rather than hashicorp's CRC-64: the stdlib has it, it runs at memory speed with SHA-NI, and the user
  archive (`SHA256SUMS`) uses the same hash.
- Only the newest `retain` snapshots are kept; older ones are deleted after a new one is durable.
- A snapshot whose `meta.json` cannot be read is skipped by `list()` with a warning (the store stays usable; the
  damaged directory is left for an operator to inspect) and refused by `open()`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1
"""The only snapshot format version written and accepted (hashicorp/raft's SnapshotVersionMax is 1 too)."""

STATE_FILE = "state.bin"
META_FILE = "meta.json"
TMP_SUFFIX = ".tmp"
_READ_CHUNK = 1 << 20


class SnapshotStoreError(Exception):
    """A snapshot store operation failed; the message says which snapshot and why."""


class SnapshotNotFoundError(SnapshotStoreError):
    """`open()` was asked for an id the store does not hold."""


class SnapshotCorruptError(SnapshotStoreError):
    """A stored snapshot does not match its metadata (size, hash) or its metadata is unreadable."""


@dataclass(frozen=True)
class SnapshotMeta:
    """What Raft needs to know about a snapshot without reading it (hashicorp/raft's SnapshotMeta).

    `configuration` is the cluster membership as of `configuration_index`, in whatever JSON-compatible form the
    Raft node encodes it; the store keeps it opaque. `size` and `sha256` describe `state.bin`.
    """

    id: str
    index: int
    term: int
    configuration: Any
    configuration_index: int
    size: int = 0
    sha256: str = ""
    version: int = SNAPSHOT_VERSION
    created_at: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Any, where: str) -> SnapshotMeta:
        """Parse `meta.json` with a clear error naming `where` for anything missing or mistyped."""
        if not isinstance(raw, dict):
            raise SnapshotCorruptError(f"{where}: metadata is not a JSON object")
        try:
            meta = cls(**raw)
        except TypeError as error:
            raise SnapshotCorruptError(f"{where}: bad metadata fields: {error}") from None
        for name in ("index", "term", "configuration_index", "size", "version"):
            value = getattr(meta, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SnapshotCorruptError(f"{where}: metadata field {name} must be a non-negative integer")
        if not isinstance(meta.id, str) or not isinstance(meta.sha256, str):
            raise SnapshotCorruptError(f"{where}: metadata fields id and sha256 must be strings")
        # created_at orders snapshots of one (term, index) in list(): a non-number would break that sort.
        if not isinstance(meta.created_at, (int, float)) or isinstance(meta.created_at, bool):
            raise SnapshotCorruptError(f"{where}: metadata field created_at must be a number")
        if meta.version != SNAPSHOT_VERSION:
            raise SnapshotCorruptError(f"{where}: unsupported snapshot version {meta.version}")
        return meta


def snapshot_id(term: int, index: int, now: float | None = None) -> str:
    """hashicorp/raft's naming: ``<term>-<index>-<unix ms>``; sorts by (term, index) when parsed, not as text."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{term}-{index}-{millis}"


class SnapshotSink(Protocol):
    """Where an FSM writes a snapshot: a binary writer with an id, made durable by `close()` or dropped by
    `cancel()`. Exactly one of the two ends it; both are idempotent afterwards."""

    @property
    def id(self) -> str: ...

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def close(self) -> SnapshotMeta: ...

    def cancel(self) -> None: ...


class SnapshotStore(Protocol):
    """hashicorp/raft's SnapshotStore in Python naming."""

    def create(self, index: int, term: int, configuration: Any, configuration_index: int) -> SnapshotSink: ...

    def list(self) -> list[SnapshotMeta]: ...

    def open(self, snapshot_id: str) -> tuple[SnapshotMeta, BinaryIO]: ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sort_key(meta: SnapshotMeta) -> tuple[int, int, float]:
    return (meta.term, meta.index, meta.created_at)


class FileSnapshotStore:
    """Snapshots as directories under ``<base>/snapshots``; see the module docstring for the guarantees."""

    def __init__(self, base: str | os.PathLike[str], retain: int = 2) -> None:
        if retain < 1:
            raise ValueError(f"retain must be at least 1, got {retain}")
        self.retain = retain
        self.path = Path(base) / "snapshots"
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # serialises retention against concurrent closes
        self._reap_temporaries()

    def _reap_temporaries(self) -> None:
        """Remove snapshots a crash left half-written: they were never acknowledged, so nothing is lost."""
        for entry in self.path.iterdir():
            if entry.name.endswith(TMP_SUFFIX) and entry.is_dir():
                log.warning("removing incomplete snapshot %s", entry)
                shutil.rmtree(entry, ignore_errors=True)

    def create(self, index: int, term: int, configuration: Any, configuration_index: int) -> FileSnapshotSink:
        if index < 0 or term < 0 or configuration_index < 0:
            raise ValueError("index, term and configuration_index must be non-negative")
        now = time.time()
        name = snapshot_id(term, index, now)
        final = self.path / name
        while final.exists() or final.with_name(name + TMP_SUFFIX).exists():
            now += 0.001  # two snapshots of the same index in the same millisecond: keep ids unique
            name = snapshot_id(term, index, now)
            final = self.path / name
        meta = SnapshotMeta(name, index, term, configuration, configuration_index, created_at=now)
        return FileSnapshotSink(self, meta)

    def _metas(self) -> Iterator[tuple[SnapshotMeta, Path]]:
        for entry in self.path.iterdir():
            if entry.name.endswith(TMP_SUFFIX) or not entry.is_dir():
                continue
            try:
                yield self._read_meta(entry), entry
            except SnapshotCorruptError as error:
                log.warning("skipping snapshot: %s", error)

    def _read_meta(self, directory: Path) -> SnapshotMeta:
        where = str(directory / META_FILE)
        try:
            raw = json.loads((directory / META_FILE).read_bytes())
        except FileNotFoundError:
            raise SnapshotCorruptError(f"{where}: missing") from None
        except (OSError, ValueError, RecursionError) as error:  # RecursionError: arrays nested thousands deep
            raise SnapshotCorruptError(f"{where}: unreadable: {error}") from None
        meta = SnapshotMeta.from_json(raw, where)
        if meta.id != directory.name:
            raise SnapshotCorruptError(f"{where}: id {meta.id!r} does not match its directory")
        return meta

    def list(self) -> list[SnapshotMeta]:
        """Every readable snapshot, newest (highest term, then index) first."""
        return sorted((meta for meta, _ in self._metas()), key=_sort_key, reverse=True)

    def open(self, snapshot_id: str) -> tuple[SnapshotMeta, BinaryIO]:
        """The snapshot's metadata and a reader positioned at the start of its state, after checking the state's
        size and hash against the metadata (one sequential read)."""
        if "/" in snapshot_id or snapshot_id in ("", ".", "..") or snapshot_id.endswith(TMP_SUFFIX):
            raise SnapshotNotFoundError(f"no snapshot {snapshot_id!r}")
        directory = self.path / snapshot_id
        if not directory.is_dir():
            raise SnapshotNotFoundError(f"no snapshot {snapshot_id!r} in {self.path}")
        meta = self._read_meta(directory)
        state_path = directory / STATE_FILE
        try:
            reader = open(state_path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
        except OSError as error:
            raise SnapshotCorruptError(f"{state_path}: unreadable: {error}") from None
        try:
            digest = hashlib.sha256()
            size = 0
            while chunk := reader.read(_READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            if size != meta.size:
                raise SnapshotCorruptError(f"{state_path}: {size} bytes, metadata says {meta.size}")
            if digest.hexdigest() != meta.sha256:
                raise SnapshotCorruptError(f"{state_path}: SHA-256 does not match the metadata")
            reader.seek(0)
        except BaseException:
            reader.close()
            raise
        return meta, reader

    def _finish(self, meta: SnapshotMeta, tmp: Path) -> None:
        """Make a written snapshot visible, then apply retention (never deleting the one just made)."""
        (tmp / META_FILE).write_text(json.dumps(meta.to_json(), indent=2, sort_keys=True))
        with open(tmp / META_FILE, "rb") as meta_file:
            os.fsync(meta_file.fileno())
        _fsync_dir(tmp)
        final = self.path / meta.id
        os.rename(tmp, final)
        _fsync_dir(self.path)
        with self._lock:
            self._apply_retention(keep=meta.id)

    def _apply_retention(self, keep: str) -> None:
        snapshots = sorted(self._metas(), key=lambda pair: _sort_key(pair[0]), reverse=True)
        for meta, directory in snapshots[self.retain :]:
            if meta.id == keep:
                continue
            log.info("removing snapshot %s (retain=%d)", meta.id, self.retain)
            shutil.rmtree(directory, ignore_errors=True)
        _fsync_dir(self.path)


class FileSnapshotSink:
    """Writes one snapshot into its temporary directory; see `SnapshotSink`."""

    def __init__(self, store: FileSnapshotStore, meta: SnapshotMeta) -> None:
        self._store = store
        self._meta = meta
        self._tmp = store.path / (meta.id + TMP_SUFFIX)
        self._tmp.mkdir()
        self._file: BinaryIO | None = open(self._tmp / STATE_FILE, "wb")  # noqa: SIM115 - closed by close/cancel
        self._digest = hashlib.sha256()
        self._size = 0
        self._result: SnapshotMeta | None = None
        self._cancelled = False

    @property
    def id(self) -> str:
        return self._meta.id

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._file is None:
            raise SnapshotStoreError(f"snapshot {self.id} is already {'cancelled' if self._cancelled else 'closed'}")
        self._digest.update(data)
        self._size += len(data)
        return self._file.write(data)

    def close(self) -> SnapshotMeta:
        """Flush and fsync the state, write the metadata, and publish the snapshot atomically."""
        if self._result is not None:
            return self._result
        if self._file is None:
            raise SnapshotStoreError(f"snapshot {self.id} was cancelled")
        file, self._file = self._file, None
        try:
            file.flush()
            os.fsync(file.fileno())
        finally:
            file.close()
        meta = SnapshotMeta(
            id=self._meta.id,
            index=self._meta.index,
            term=self._meta.term,
            configuration=self._meta.configuration,
            configuration_index=self._meta.configuration_index,
            size=self._size,
            sha256=self._digest.hexdigest(),
            created_at=self._meta.created_at,
        )
        try:
            self._store._finish(meta, self._tmp)
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self._result = meta
        return meta

    def cancel(self) -> None:
        """Throw the partial snapshot away; nothing becomes visible."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        self._cancelled = True
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> FileSnapshotSink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()


class MemorySnapshotStore:
    """Snapshots held in memory (tests, the simulator, `agent --dev`); like hashicorp/raft's InmemSnapshotStore it
    keeps only the newest snapshot, which is all Raft ever reads."""

    def __init__(self) -> None:
        self._latest: tuple[SnapshotMeta, bytes] | None = None
        self._lock = threading.Lock()

    def create(self, index: int, term: int, configuration: Any, configuration_index: int) -> MemorySnapshotSink:
        now = time.time()
        meta = SnapshotMeta(
            snapshot_id(term, index, now), index, term, configuration, configuration_index, created_at=now
        )
        return MemorySnapshotSink(self, meta)

    def _publish(self, meta: SnapshotMeta, state: bytes) -> None:
        with self._lock:
            if self._latest is None or _sort_key(meta) >= _sort_key(self._latest[0]):
                self._latest = (meta, state)

    def list(self) -> list[SnapshotMeta]:
        with self._lock:
            return [] if self._latest is None else [self._latest[0]]

    def open(self, snapshot_id: str) -> tuple[SnapshotMeta, BinaryIO]:
        with self._lock:
            if self._latest is None or self._latest[0].id != snapshot_id:
                raise SnapshotNotFoundError(f"no snapshot {snapshot_id!r}")
            meta, state = self._latest
        return meta, io.BytesIO(state)


class MemorySnapshotSink:
    """Buffers one snapshot in memory; see `SnapshotSink`."""

    def __init__(self, store: MemorySnapshotStore, meta: SnapshotMeta) -> None:
        self._store = store
        self._meta = meta
        self._buffer: io.BytesIO | None = io.BytesIO()
        self._result: SnapshotMeta | None = None

    @property
    def id(self) -> str:
        return self._meta.id

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._buffer is None:
            raise SnapshotStoreError(f"snapshot {self.id} is already finished")
        return self._buffer.write(data)

    def close(self) -> SnapshotMeta:
        if self._result is not None:
            return self._result
        if self._buffer is None:
            raise SnapshotStoreError(f"snapshot {self.id} was cancelled")
        state, self._buffer = self._buffer.getvalue(), None
        meta = SnapshotMeta(
            id=self._meta.id,
            index=self._meta.index,
            term=self._meta.term,
            configuration=self._meta.configuration,
            configuration_index=self._meta.configuration_index,
            size=len(state),
            sha256=hashlib.sha256(state).hexdigest(),
            created_at=self._meta.created_at,
        )
        self._store._publish(meta, state)
        self._result = meta
        return meta

    def cancel(self) -> None:
        self._buffer = None

    def __enter__(self) -> MemorySnapshotSink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()
