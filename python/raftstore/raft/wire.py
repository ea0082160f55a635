"""The core's messages as transport frames: one frame kind per message class, the body a msgpack array.

Why arrays and not maps: field names would be repeated in every heartbeat and every append; an array in the
dataclass's field order is smaller and faster to build, and the kind byte already says which class it is. Entries
inside an append travel as ``[index, term, type, data, extensions, appended_at]``; a snapshot's configuration as
`Configuration.encode()`'s bytes. Every message starts with the protocol version (`WIRE_VERSION`) so a future change
is refused clearly rather than misread.

Decoding is strict: a frame of unknown kind, a body that is not the expected array, a wrong field count, a wrong
type in any field, or a log type that does not exist raises `WireError` naming the message and the field. A
transport closes the connection that sent it; nothing reaches the core half-decoded.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import msgpack

from raftstore.logstore.log import Log, LogType
from raftstore.raft.configuration import Configuration
from raftstore.raft.messages import (
    AppendEntriesRequest,
    AppendEntriesResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InstallSnapshotRequest,
    InstallSnapshotResponse,
    Message,
    RequestVoteRequest,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNowRequest,
)

WIRE_VERSION = 1

KINDS: dict[type, int] = {
    AppendEntriesRequest: 1,
    AppendEntriesResponse: 2,
    HeartbeatRequest: 3,
    HeartbeatResponse: 4,
    RequestVoteRequest: 5,
    RequestVoteResponse: 6,
    InstallSnapshotRequest: 7,
    InstallSnapshotResponse: 8,
    TimeoutNowRequest: 9,
}
"""Frame kinds (0 is the transport's hello). Persisted nowhere, but both ends of a link must agree: never renumber."""

CLASSES: dict[int, type] = {kind: cls for cls, kind in KINDS.items()}

_LOG_TYPES = frozenset(int(t) for t in LogType)


class WireError(ValueError):
    """A frame does not decode to a valid message; the message says which and why."""


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_FIELDS: dict[type, tuple[str, ...]] = {cls: _fields(cls) for cls in KINDS}


def _encode_entry(log: Log) -> list[Any]:
    return [log.index, log.term, int(log.type), log.data, log.extensions, log.appended_at]


def _encode_meta(meta: SnapshotMeta) -> list[Any]:
    return [meta.index, meta.term, meta.configuration.encode(), meta.configuration_index]


def encode(message: Message) -> tuple[int, bytes]:
    """The frame kind and body of a message."""
    cls = type(message)
    kind = KINDS.get(cls)
    if kind is None:
        raise WireError(f"not a Raft message: {cls.__name__}")
    body: list[Any] = [WIRE_VERSION]
    for name in _FIELDS[cls]:
        value = getattr(message, name)
        if name == "entries":
            value = [_encode_entry(log) for log in value]
        elif name == "meta":
            value = _encode_meta(value)
        elif name == "data" and value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
            raise WireError("InstallSnapshotRequest.data must be bytes (a chunk) or None on the wire")
        body.append(value)
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return kind, packed


def _check(condition: bool, cls: type, field: str, problem: str) -> None:
    if not condition:
        raise WireError(f"{cls.__name__}.{field}: {problem}")


def _int(value: Any, cls: type, field: str) -> int:
    _check(type(value) is int and value >= 0, cls, field, f"expected a non-negative integer, got {value!r:.40}")
    result: int = value
    return result


_LOG_TYPE_BY_NUMBER = {int(t): t for t in LogType}


def _decode_entry(raw: Any, cls: type) -> Log:
    """One entry, checked field by field (this runs for every replicated entry, so the checks are inlined: a follower
    decodes tens of thousands of entries a second)."""
    if type(raw) is not list or len(raw) != 6:
        raise WireError(f"{cls.__name__}.entries: each entry is [index, term, type, data, ext, at]")
    index, term, log_type, data, extensions, appended_at = raw
    if type(index) is not int or index < 0:
        raise WireError(f"{cls.__name__}.entries.index: expected a non-negative integer, got {index!r:.40}")
    if type(term) is not int or term < 0:
        raise WireError(f"{cls.__name__}.entries.term: expected a non-negative integer, got {term!r:.40}")
    kind = _LOG_TYPE_BY_NUMBER.get(log_type) if type(log_type) is int else None
    if kind is None:
        raise WireError(f"{cls.__name__}.entries: unknown log type {log_type!r:.20}")
    if type(data) is not bytes or type(extensions) is not bytes:
        raise WireError(f"{cls.__name__}.entries: data and extensions are bytes")
    if type(appended_at) is not float:
        if type(appended_at) is not int:
            raise WireError(f"{cls.__name__}.entries: appended_at is a number")
        appended_at = float(appended_at)
    if not math.isfinite(appended_at):  # a NaN time equals nothing, not even itself; an infinite one is no time
        raise WireError(f"{cls.__name__}.entries: appended_at is a number")
    return Log(index, term, kind, data, extensions, appended_at)


def _decode_meta(raw: Any, cls: type) -> SnapshotMeta:
    _check(isinstance(raw, list) and len(raw) == 4, cls, "meta", "expected [index, term, configuration, cfg index]")
    index, term, configuration, configuration_index = raw
    _check(isinstance(configuration, bytes), cls, "meta", "the configuration is bytes")
    try:
        decoded = Configuration.decode(configuration)
    except Exception as error:  # whatever the configuration decoder refuses, named here
        raise WireError(f"{cls.__name__}.meta: bad configuration: {error}") from None
    return SnapshotMeta(
        _int(index, cls, "meta.index"), _int(term, cls, "meta.term"), decoded, _int(configuration_index, cls, "meta")
    )


def encode_snapshot_meta(meta: SnapshotMeta) -> list[Any]:
    """A snapshot's metadata as it travels inside InstallSnapshot (also used by the runtime's chunk frames)."""
    return _encode_meta(meta)


def decode_snapshot_meta(raw: Any) -> SnapshotMeta:
    """The inverse of `encode_snapshot_meta`, strict; `WireError` for anything else."""
    return _decode_meta(raw, InstallSnapshotRequest)


def _str(value: Any, cls: type, field: str) -> str:
    _check(isinstance(value, str) and value != "", cls, field, "expected a server id")
    result: str = value
    return result


_DECODERS: dict[str, Callable[[Any, type, str], Any]] = {
    "source": _str,
    "target": _str,
    "success": lambda v, c, f: _bool(v, c, f),
    "granted": lambda v, c, f: _bool(v, c, f),
    "pre_vote": lambda v, c, f: _bool(v, c, f),
    "leadership_transfer": lambda v, c, f: _bool(v, c, f),
}


def _bool(value: Any, cls: type, field: str) -> bool:
    _check(isinstance(value, bool), cls, field, "expected true or false")
    result: bool = value
    return result


def decode(kind: int, body: bytes | bytearray | memoryview) -> Message:
    """The message in a frame; `WireError` for anything that is not exactly one valid message."""
    cls = CLASSES.get(kind)
    if cls is None:
        raise WireError(f"unknown message kind {kind}")
    try:
        raw = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as error:
        raise WireError(f"{cls.__name__}: malformed msgpack: {error}") from None
    fields = _FIELDS[cls]
    if not isinstance(raw, list) or not raw:
        raise WireError(f"{cls.__name__}: the body is not a msgpack array")
    if raw[0] != WIRE_VERSION:
        raise WireError(f"{cls.__name__}: unsupported wire version {raw[0]!r:.20} (this server speaks {WIRE_VERSION})")
    values = raw[1:]
    if len(values) != len(fields):
        raise WireError(f"{cls.__name__}: {len(values)} fields, expected {len(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in zip(fields, values, strict=True):
        if name == "entries":
            _check(isinstance(value, list), cls, name, "expected a list of entries")
            kwargs[name] = [_decode_entry(entry, cls) for entry in value]
        elif name == "meta":
            kwargs[name] = _decode_meta(value, cls)
        elif name == "data":
            _check(value is None or isinstance(value, bytes), cls, name, "expected bytes or nil")
            kwargs[name] = value
        elif name in _DECODERS:
            kwargs[name] = _DECODERS[name](value, cls, name)
        else:
            kwargs[name] = _int(value, cls, name)
    message: Message = cls(**kwargs)
    return message
