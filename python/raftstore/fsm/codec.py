"""The bytes of an FSM command: ``[1 byte MessageType][msgpack body]``, as Consul's `structs.Encode` writes them.

Why these choices:
- The body is msgpack in the *old* spec (`use_bin_type=False`): Go's codec with `RawToString` writes strings and
  byte slices alike as raw, never str8 or bin, and Consul's tools expect those bytes.
- Decoding turns every raw into `str` with ``surrogateescape`` in C (msgpack's own decoder): field names and the
  many string fields need no further work, and a field that is a byte slice in Go (a KV `Value`) is recovered
  exactly with `as_bytes`, even when it is not valid UTF-8. One C pass plus one re-encode of the few binary fields
  is far cheaper than walking the decoded tree in Python.
"""

from __future__ import annotations

from typing import Any

import msgpack

from raftstore.fsm.messages import IGNORE_UNKNOWN_TYPE_FLAG, MessageType


class CommandDecodeError(ValueError):
    """A command's bytes are not a well-formed `[type][msgpack map]`; the message says what is wrong."""


def encode(message_type: MessageType | int, body: Any, *, ignore_unknown: bool = False) -> bytes:
    """Build a command's bytes from a body with Consul's field names (`{"Op": "set", "DirEnt": {...}}`)."""
    type_byte = int(message_type)
    if not 0 <= type_byte < IGNORE_UNKNOWN_TYPE_FLAG:
        raise ValueError(f"message type must be in 0..127, got {type_byte}")
    if ignore_unknown:
        type_byte |= IGNORE_UNKNOWN_TYPE_FLAG
    packed: bytes = msgpack.packb(body, use_bin_type=False)
    return bytes((type_byte,)) + packed


def split(data: bytes | bytearray | memoryview) -> tuple[int, bool, memoryview]:
    """The type (flag stripped), whether it may be ignored when unknown, and the undecoded body."""
    if len(data) == 0:
        raise CommandDecodeError("empty command: no message type byte")
    view = memoryview(data)
    type_byte = view[0]
    return type_byte & ~IGNORE_UNKNOWN_TYPE_FLAG, bool(type_byte & IGNORE_UNKNOWN_TYPE_FLAG), view[1:]


def decode_body(body: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode a command body (a msgpack map, raw strings as `str`); a clear error for anything else."""
    try:
        value = msgpack.unpackb(body, raw=False, unicode_errors="surrogateescape", strict_map_key=False)
    # ExtraData and FormatError are ValueErrors; TypeError is a map key that cannot be a dict key (a map or array).
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise CommandDecodeError(f"malformed msgpack body: {error}") from None
    if not isinstance(value, dict):
        raise CommandDecodeError(f"a command body is a msgpack map, got {type(value).__name__}")
    return value


def as_bytes(value: Any, field: str = "value") -> bytes:
    """A Go byte-slice field as bytes: raw arrives as `str` (see the module docstring), nil as None -> b""."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    raise CommandDecodeError(f"{field} must be bytes, got {type(value).__name__}")
