"""The WAL's on-disk encoding in pure Python: CRC-32C and the entry, commit, index and header frames.

The single source of truth for the format is csrc/wal.h; this module writes and reads the same bytes, so a log
written by WALStore opens in PyWALStore and the other way round (tests/test_logstore_differential.py checks it).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from raftstore.logstore.errors import InvalidEntryError
from raftstore.logstore.log import Log, LogType

ENTRY_FRAME = 1
INDEX_FRAME = 2
COMMIT_FRAME = 3
HEADER_SIZE = 32
FRAME_HEADER = 8
ENTRY_HEADER = 32
COMMIT_SIZE = 16
MAX_PAYLOAD = 1 << 30
SEG_MAGIC = b"RSWL"
SEG_VERSION = 1
META_MAGIC = b"RSWALMT1"
COMMIT_TAG = b"\x03CMT"

# frame header + the entry payload's fixed part: type, log type, 0, length | index, term, appended_at, ext_len, crc
ENTRY = struct.Struct("<BBHIQQdII")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
COMMIT = struct.Struct("<4sIII")  # b"\x03CMT", crc, batch start, frame count
SEG_HEADER = struct.Struct("<4sB3xQQ4xI")  # magic, version, segment id, base index, crc
META_SEG = struct.Struct("<QQQQQQ")  # id, base, min, max (0 for the tail), index_start (0 for the tail), min_size
_TYPES = tuple(LogType)

_POLY = 0x82F63B78


def _tables() -> list[list[int]]:
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _tables()
_PAIRS = struct.Struct("<II")


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of `data` appended to data whose CRC is `crc` (slice-by-8 over 8-byte words)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    crc ^= 0xFFFFFFFF
    view = memoryview(data).cast("B")
    n8 = len(view) & ~7
    for lo, hi in _PAIRS.iter_unpack(view[:n8]):
        lo ^= crc
        crc = (
            t7[lo & 0xFF]
            ^ t6[(lo >> 8) & 0xFF]
            ^ t5[(lo >> 16) & 0xFF]
            ^ t4[lo >> 24]
            ^ t3[hi & 0xFF]
            ^ t2[(hi >> 8) & 0xFF]
            ^ t1[(hi >> 16) & 0xFF]
            ^ t0[hi >> 24]
        )
    for b in view[n8:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def pad8(n: int) -> int:
    return (n + 7) & ~7


def frame_size(data_len: int, ext_len: int) -> int:
    return FRAME_HEADER + pad8(ENTRY_HEADER + ext_len + data_len)


def check_log(log: Log) -> tuple[bytes, bytes, int]:
    """The entry's data, extensions and type number, or InvalidEntryError for what no backend may store."""
    data, ext = bytes(log.data), bytes(log.extensions)
    t = int(log.type)
    if not 0 <= t < len(_TYPES):
        raise InvalidEntryError(f"log entry {log.index}: unknown log type {log.type!r}")
    if log.index <= 0:
        raise InvalidEntryError(f"log index {log.index} is reserved (indexes start at 1)")
    if not 0 <= log.term < 1 << 64 or log.index >= 1 << 64:
        raise InvalidEntryError(f"log entry {log.index}: index or term outside uint64")
    if len(data) + len(ext) > MAX_PAYLOAD - ENTRY_HEADER:
        raise InvalidEntryError(f"log entry {log.index} too large ({len(data) + len(ext)} bytes)")
    return data, ext, t


def encode_frame(log: Log) -> bytes:
    data, ext, t = check_log(log)
    plen = ENTRY_HEADER + len(ext) + len(data)
    head = ENTRY.pack(ENTRY_FRAME, t, 0, plen, log.index, log.term, float(log.appended_at), len(ext), 0)[:36]
    crc = crc32c(data, crc32c(ext, crc32c(head)))
    return b"".join((head, U32.pack(crc), ext, data, bytes(pad8(plen) - plen)))


def encode_logs(logs: Sequence[Log]) -> bytes:
    """The entries as concatenated entry frames (the same bytes as the C binding's encode_logs)."""
    return b"".join(encode_frame(log) for log in logs)


def decode_frame(buf: bytes | memoryview, pos: int, end: int | None = None) -> tuple[Log, int]:
    """The entry frame at buf[pos:end] and the offset after it; ValueError (with the reason) when it is damaged."""
    end = len(buf) if end is None else end
    if end - pos < FRAME_HEADER + ENTRY_HEADER:
        raise ValueError("entry frame truncated")
    ftype, ltype, zero, plen, index, term, appended_at, ext_len, crc = ENTRY.unpack_from(buf, pos)
    if ftype != ENTRY_FRAME or zero:
        raise ValueError(f"not an entry frame (type byte {ftype})")
    if plen < ENTRY_HEADER or plen > MAX_PAYLOAD or ext_len > plen - ENTRY_HEADER:
        raise ValueError(f"entry frame with a bad length ({plen}, extensions {ext_len})")
    total = FRAME_HEADER + pad8(plen)
    if pos + total > end:
        raise ValueError(f"entry frame of {total} bytes truncated to {end - pos}")
    view = memoryview(buf)
    body = view[pos + FRAME_HEADER + ENTRY_HEADER : pos + FRAME_HEADER + plen]
    if crc32c(body, crc32c(view[pos : pos + 36])) != crc:
        raise ValueError("entry frame checksum mismatch")
    if ltype >= len(_TYPES):
        raise ValueError(f"unknown log type {ltype}")
    ext = bytes(body[:ext_len])
    data = bytes(body[ext_len:])
    return Log(index, term, _TYPES[ltype], data, ext, appended_at), pos + total


def decode_logs(frames: bytes | bytearray | memoryview) -> list[Log]:
    buf = bytes(frames)
    out, pos = [], 0
    while pos < len(buf):
        try:
            log, pos = decode_frame(buf, pos)
        except ValueError as exc:
            raise InvalidEntryError(f"encoded batch at byte {pos}: {exc}") from None
        out.append(log)
    return out


def segment_header(segment_id: int, base: int) -> bytes:
    raw = SEG_HEADER.pack(SEG_MAGIC, SEG_VERSION, segment_id, base, 0)[:28]
    return raw + U32.pack(crc32c(raw))


def commit_frame(batch: bytes | memoryview, seed: int, start: int, count: int) -> bytes:
    """The commit frame closing `batch` (the bytes from `start` to the frame), its CRC chained from `seed`."""
    tail = U32.pack(start) + U32.pack(count)
    return COMMIT_TAG + U32.pack(crc32c(tail, crc32c(batch, seed))) + tail


def commit_valid(buf: bytes, at: int, seed: int) -> bool:
    if buf[at : at + 4] != COMMIT_TAG or at + COMMIT_SIZE > len(buf):
        return False
    _, crc, start, _count = COMMIT.unpack_from(buf, at)
    if start < HEADER_SIZE or start > at or start & 7:
        return False
    view = memoryview(buf)
    return bool(crc32c(view[at + 8 : at + 16], crc32c(view[start:at], seed)) == crc)


def segment_name(base: int, segment_id: int) -> str:
    return f"{base:020d}-{segment_id:016x}.wal"


def parse_segment_name(name: str) -> tuple[int, int] | None:
    if len(name) != 41 or not name.endswith(".wal") or name[20] != "-":
        return None
    try:
        return int(name[:20], 10), int(name[21:37], 16)
    except ValueError:
        return None
