"""Frames on a Raft connection: ``[u32 length, big-endian][u8 kind][payload]``, length counting kind + payload.

Why a length prefix and not a self-delimiting msgpack stream: the receiver knows a frame's size before reading
it, so an oversized or hostile frame is refused from its first five bytes (never buffered), and a payload can be
handed on as one slice without re-parsing. `kind` lets the receiver route a frame (and lets entries' bytes travel
without being decoded by the transport).

Invariant, enforced by `FrameDecoder`: every frame yielded is complete and at most `max_frame` bytes; anything
else raises `FrameError`, after which the connection is unusable (framing is lost) and must be closed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

HEADER = struct.Struct(">IB")
HEADER_SIZE = HEADER.size  # 5
DEFAULT_MAX_FRAME = 64 << 20
"""64 MiB: a full AppendEntries batch (64 entries of hashicorp/raft's suggested 512 KiB maximum is 32 MiB) fits."""


class FrameError(ValueError):
    """The byte stream is not valid framing; the connection must be closed."""


def encode_frame(kind: int, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """One frame's bytes."""
    if not 0 <= kind <= 255:
        raise ValueError(f"frame kind must be one byte, got {kind}")
    return HEADER.pack(len(payload) + 1, kind) + bytes(payload)


def frame_header(kind: int, payload_size: int) -> bytes:
    """Only the header, for writers that send the payload as a separate buffer (no copy of large payloads)."""
    return HEADER.pack(payload_size + 1, kind)


class FrameDecoder:
    """Incremental decoder: `feed(data)` yields every frame completed by `data` as ``(kind, payload)``."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[tuple[int, bytes]]:
        buffer = self._buffer
        buffer += data
        start = 0
        try:
            while len(buffer) - start >= HEADER_SIZE:
                length, kind = HEADER.unpack_from(buffer, start)
                if length == 0:
                    raise FrameError("frame with length 0 (no kind byte)")
                if length > self.max_frame:
                    raise FrameError(f"frame of {length} bytes exceeds the {self.max_frame}-byte limit")
                end = start + 4 + length
                if len(buffer) < end:
                    break
                yield kind, bytes(buffer[start + HEADER_SIZE : end])
                start = end
        finally:
            del buffer[:start]
