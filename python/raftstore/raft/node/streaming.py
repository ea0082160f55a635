"""Chunked InstallSnapshot: the frames that carry a snapshot from the leader's store into a follower's store.

Why chunks and not one message: a snapshot can be far larger than memory should hold at once or than a frame may
be (the transport caps frames); hashicorp streams it over one connection for the same reason. The leader reads its
stored snapshot in `CHUNK_SIZE` pieces and sends each on the DATA lane (never ahead of heartbeats); the follower
writes each piece straight into a new sink in its own SnapshotStore and acknowledges it on the CONTROL lane. Only
when the last chunk is durable does the follower's core see an `InstallSnapshotRequest`, whose data is then a
`StoredSnapshot` reference, so nothing is copied twice and a half-received snapshot is never visible.

Flow control is one chunk in flight per follower (stop and wait): with 1 MiB chunks on a LAN the round trip is a
small fraction of the transfer time, and a lost or refused chunk simply aborts the transfer (the core retries
InstallSnapshot after an election timeout).

Frames (msgpack arrays, strictly decoded, `WireError` otherwise):
- chunk: ``[1, term, meta, offset, data, done]`` (meta as in InstallSnapshot);
- ack: ``[1, term, index, next_offset, ok]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from raftstore.raft.messages import SnapshotMeta
from raftstore.raft.wire import WireError, decode_snapshot_meta, encode_snapshot_meta

SNAPSHOT_CHUNK_KIND = 64
SNAPSHOT_ACK_KIND = 65
CHUNK_SIZE = 1 << 20
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Chunk:
    term: int
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@dataclass(frozen=True, slots=True)
class ChunkAck:
    term: int
    index: int
    next_offset: int
    ok: bool


def encode_chunk(chunk: Chunk) -> bytes:
    body = [_VERSION, chunk.term, encode_snapshot_meta(chunk.meta), chunk.offset, chunk.data, chunk.done]
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def encode_ack(ack: ChunkAck) -> bytes:
    packed: bytes = msgpack.packb([_VERSION, ack.term, ack.index, ack.next_offset, ack.ok], use_bin_type=True)
    return packed


def _unpack(payload: bytes, what: str, length: int) -> list[Any]:
    try:
        raw = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as error:
        raise WireError(f"{what}: malformed msgpack: {error}") from None
    if not isinstance(raw, list) or len(raw) != length or raw[0] != _VERSION:
        raise WireError(f"{what}: expected a version-{_VERSION} array of {length} fields")
    return raw


def _uint(value: Any, what: str, name: str) -> int:
    if type(value) is not int or value < 0:
        raise WireError(f"{what}.{name}: expected a non-negative integer")
    result: int = value
    return result


def decode_chunk(payload: bytes) -> Chunk:
    _, term, meta, offset, data, done = _unpack(payload, "SnapshotChunk", 6)
    if not isinstance(data, bytes) or not isinstance(done, bool):
        raise WireError("SnapshotChunk: data must be bytes and done a boolean")
    return Chunk(
        _uint(term, "SnapshotChunk", "term"),
        decode_snapshot_meta(meta),
        _uint(offset, "SnapshotChunk", "offset"),
        data,
        done,
    )


def decode_ack(payload: bytes) -> ChunkAck:
    _, term, index, next_offset, ok = _unpack(payload, "SnapshotChunkAck", 5)
    if not isinstance(ok, bool):
        raise WireError("SnapshotChunkAck.ok: expected a boolean")
    return ChunkAck(
        _uint(term, "SnapshotChunkAck", "term"),
        _uint(index, "SnapshotChunkAck", "index"),
        _uint(next_offset, "SnapshotChunkAck", "next_offset"),
        ok,
    )
