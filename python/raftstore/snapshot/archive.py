"""Consul's snapshot archive: the file `consul snapshot save` writes and `consul snapshot restore` reads.

Format (Consul's snapshot/archive.go): a gzip stream holding a tar with exactly three regular files, in this order:
``meta.json`` (the Raft snapshot metadata as JSON, with Consul's field names), ``state.bin`` (the FSM snapshot
stream, see `raftstore.fsm.snapshot_stream`) and ``SHA256SUMS`` (``<hex>  <name>`` per line for the other two).

Writing produces what Consul's reader accepts: USTAR headers, mode 0600, and nothing after the tar's two
end-of-archive blocks (Python's `tarfile` pads to a 10 KiB record, which Consul's verification rejects as trailing
data, so the tar is written here block by block).

Reading verifies before anything is trusted, with Consul's rules and error texts: a member other than the three is
refused (``unexpected file "x" in snapshot``), every file must be listed in SHA256SUMS and match (``file missing
for "x"``, ``hash check failed for "x"``), and no data may follow the archive (``N unread uncompressed bytes
remain``). Damaged gzip or tar framing, a missing member, a meta.json that is not a JSON object or whose Size
disagrees with state.bin are refused too. `state.bin` is streamed to a caller-supplied file (it may be gigabytes);
meta.json and SHA256SUMS are small and size-capped so a hostile archive cannot exhaust memory.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import time
import zlib
from typing import Any, BinaryIO, Protocol

META_NAME = "meta.json"
STATE_NAME = "state.bin"
SUMS_NAME = "SHA256SUMS"
MEMBERS = (META_NAME, STATE_NAME, SUMS_NAME)

_BLOCK = 512
_CHUNK = 1 << 20
_SMALL_MEMBER_LIMIT = 16 << 20  # meta.json and SHA256SUMS: far above any real size, far below a memory problem
_USTAR_MAX_SIZE = (1 << 33) - 1  # an 11-digit octal size field


class ArchiveError(ValueError):
    """A snapshot archive is malformed or fails verification; the message says which check failed."""


class Writable(Protocol):
    """Where `read_archive` puts state.bin: any object with a binary `write`."""

    def write(self, data: bytes, /) -> object: ...


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = mtime
    info.type = tarfile.REGTYPE
    if size > _USTAR_MAX_SIZE:  # over 8 GiB: GNU headers carry base-256 sizes, which Go and Python both read
        return info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def write_archive(out: BinaryIO, meta: dict[str, Any], state: BinaryIO) -> None:
    """Write an archive of `meta` (Consul's SnapshotMeta fields; its ``Size`` is state.bin's length) and exactly
    ``meta["Size"]`` bytes read from `state`."""
    size = meta.get("Size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ArchiveError("meta must carry the state's length as a non-negative integer Size")
    meta_bytes = json.dumps(meta).encode() + b"\n"  # Go's json.Encoder ends with a newline
    mtime = int(time.time())
    sums: list[tuple[str, str]] = []
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime) as gz:
        gz.write(_tar_header(META_NAME, len(meta_bytes), mtime) + meta_bytes + _padding(len(meta_bytes)))
        sums.append((hashlib.sha256(meta_bytes).hexdigest(), META_NAME))
        gz.write(_tar_header(STATE_NAME, size, mtime))
        digest = hashlib.sha256()
        remaining = size
        while remaining:
            chunk = state.read(min(_CHUNK, remaining))
            if not chunk:
                raise ArchiveError(f"state ended after {size - remaining} of {size} bytes")
            digest.update(chunk)
            gz.write(chunk)
            remaining -= len(chunk)
        if state.read(1):
            raise ArchiveError(f"state is longer than meta's Size of {size} bytes")
        gz.write(_padding(size))
        sums.append((digest.hexdigest(), STATE_NAME))
        sums_bytes = "".join(f"{hexdigest}  {name}\n" for hexdigest, name in sums).encode()
        gz.write(_tar_header(SUMS_NAME, len(sums_bytes), mtime) + sums_bytes + _padding(len(sums_bytes)))
        gz.write(b"\0" * (2 * _BLOCK))


class _Stream:
    """The decompressed archive, read exactly, with every gzip failure turned into an `ArchiveError`."""

    def __init__(self, source: BinaryIO) -> None:
        self._gz = gzip.GzipFile(fileobj=source, mode="rb")

    def read(self, size: int) -> bytes:
        try:
            return self._gz.read(size)
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
            raise ArchiveError(f"damaged gzip stream: {error}") from None

    def read_exactly(self, size: int, what: str) -> bytes:
        data = self.read(size)
        if len(data) != size:
            raise ArchiveError(f"archive truncated in {what}")
        return data


def _parse_sums(text: bytes) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
        hexdigest, sep, name = line.partition("  ")
        if not sep or len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest) or not name:
            raise ArchiveError(f"{SUMS_NAME} line {number} is not '<sha256 hex>  <name>'")
        sums[name] = hexdigest
    return sums


def read_archive(source: BinaryIO, state_out: Writable) -> dict[str, Any]:
    """Verify an archive, copying its state.bin into `state_out`; returns meta.json's object.

    `state_out` receives the state before the hashes are checked (they are at the end of the archive): callers
    write it to a temporary file and use it only when this returns.
    """
    stream = _Stream(source)
    seen: dict[str, str] = {}
    meta_bytes = sums_bytes = None
    state_size = 0
    while True:
        block = stream.read(_BLOCK)
        if not block:
            raise ArchiveError("archive ends without the tar end-of-archive marker")
        if len(block) < _BLOCK:
            raise ArchiveError("archive truncated in a tar header")
        if block == b"\0" * _BLOCK:
            second = stream.read(_BLOCK)
            if second and second != b"\0" * _BLOCK:
                raise ArchiveError("tar end-of-archive marker is followed by a header")
            break
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as error:
            raise ArchiveError(f"damaged tar header: {error}") from None
        name = info.name
        if name not in MEMBERS or not info.isreg():
            raise ArchiveError(f'unexpected file "{name}" in snapshot')
        if name in seen:
            raise ArchiveError(f'file "{name}" appears twice in snapshot')
        digest = hashlib.sha256()
        if name == STATE_NAME:
            state_size = remaining = info.size
            while remaining:
                chunk = stream.read(min(_CHUNK, remaining))
                if not chunk:
                    raise ArchiveError(f"archive truncated in {name}")
                digest.update(chunk)
                state_out.write(chunk)
                remaining -= len(chunk)
        else:
            if info.size > _SMALL_MEMBER_LIMIT:
                raise ArchiveError(f"{name} is implausibly large ({info.size} bytes)")
            data = stream.read_exactly(info.size, name)
            digest.update(data)
            if name == META_NAME:
                meta_bytes = data
            else:
                sums_bytes = data
        stream.read_exactly(-info.size % _BLOCK, f"{name}'s padding")
        seen[name] = digest.hexdigest()
    extra = 0
    while chunk := stream.read(_CHUNK):
        extra += len(chunk)
    if extra:
        raise ArchiveError(f"{extra} unread uncompressed bytes remain")
    for name in MEMBERS:
        if name not in seen:
            raise ArchiveError(f"{name} missing from snapshot")
    assert sums_bytes is not None and meta_bytes is not None
    sums = _parse_sums(sums_bytes)
    for name in (META_NAME, STATE_NAME):
        if name not in sums:
            raise ArchiveError(f'file missing for "{name}"')
    for name, hexdigest in sums.items():
        if name not in seen or name == SUMS_NAME:
            raise ArchiveError(f'file missing for "{name}"')
        if seen[name] != hexdigest:
            raise ArchiveError(f'hash check failed for "{name}"')
    try:
        meta = json.loads(meta_bytes)
    except (ValueError, RecursionError) as error:  # RecursionError: arrays nested thousands deep (hashes match)
        raise ArchiveError(f"{META_NAME} is not JSON: {error}") from None
    if not isinstance(meta, dict):
        raise ArchiveError(f"{META_NAME} is not a JSON object")
    if meta.get("Size") != state_size:
        raise ArchiveError(f"{META_NAME} says Size {meta.get('Size')!r} but {STATE_NAME} has {state_size} bytes")
    return meta


def verify_archive(source: BinaryIO) -> dict[str, Any]:
    """Verify an archive without keeping its state; returns meta.json's object."""

    class _Discard:
        def write(self, data: bytes, /) -> object:
            return None

    return read_archive(source, _Discard())
