"""PyWALStore: the pure-Python reference implementation of the segmented WAL, byte-compatible with csrc/wal.c.

Same directory layout, frames, metadata, recovery rules and errors as WALStore (see csrc/wal.h); simpler where speed
is not the point: reads use os.pread, segments are zero-filled synchronously at rotation, and a lock serialises
every call (readers included), so it is a reference and a benchmark baseline, not the fast path.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from raftstore.logstore import codec as c
from raftstore.logstore.base import StoreMixin
from raftstore.logstore.errors import (
    CorruptionError,
    InvalidEntryError,
    LogNotFoundError,
    LogStoreIOError,
    NonContiguousError,
    StoreClosedError,
    StoreFailedError,
    StoreLockedError,
)
from raftstore.logstore.log import Log

META_NAME = "wal-meta"
META_TMP = "wal-meta.tmp"
SPARE_NAME = "spare.seg"
SPARE_TMP = "spare.tmp"
ZERO_CHUNK = 1 << 20
MAX_SEGMENT_SIZE = 1 << 32


@dataclass
class _Segment:
    id: int
    base: int
    min: int
    max: int  # sealed: the last index; the tail: unused (its last is base + len(offsets) - 1)
    index_start: int  # 0 while the tail
    min_size: int
    path: str
    fd: int = -1
    size: int = 0  # the file size (bounds for reads)
    offsets: list[int] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.max if self.index_start else self.base + len(self.offsets) - 1

    def desc(self) -> tuple[int, int, int, int, int, int]:
        return (self.id, self.base, self.min, self.max if self.index_start else 0, self.index_start, self.min_size)


class PyWALStore(StoreMixin):
    """`PyWALStore(directory, segment_size=64 << 20, sync=True)`: the same API and files as WALStore."""

    def __init__(self, directory: str | os.PathLike[str], segment_size: int = 64 << 20, sync: bool = True) -> None:
        if not 64 << 10 <= segment_size <= MAX_SEGMENT_SIZE:
            raise InvalidEntryError(f"segment_size {segment_size} outside 64 KiB .. 4 GiB")
        self.directory = str(directory)
        self.sync = bool(sync)
        self.segment_size = c.pad8(segment_size)
        self._lock = threading.RLock()
        self._segs: list[_Segment] = []
        self._kv: dict[bytes, bytes] = {}
        self._next_id = 1
        self._tail_off = 0
        self._failed = False
        self._dirfd = -1
        try:
            os.makedirs(self.directory, exist_ok=True)
            self._dirfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(self._dirfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLockedError(f"{self.directory} is in use by another WAL") from None
            self._open()
        except OSError as exc:
            self._release()
            if isinstance(exc, LogStoreIOError):
                raise
            raise LogStoreIOError(exc.errno, f"open {self.directory}: {exc}") from exc
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------------------------------------- open / close

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _sync_dir(self) -> None:
        if self.sync:
            os.fsync(self._dirfd)

    def _open(self) -> None:
        found = self._read_meta()
        names = os.listdir(self.directory)
        if found is None and any(c.parse_segment_name(n) for n in names):
            raise CorruptionError(f"{self._path(META_NAME)} at offset 0: metadata missing but segments present")
        descs = found or []
        known = {(d[1], d[0]) for d in descs}
        removed = False
        for name in names:
            parsed = c.parse_segment_name(name)
            if name in (SPARE_TMP, META_TMP, SPARE_NAME) or (parsed is not None and parsed not in known):
                os.unlink(self._path(name))  # stray: never part of the log (this backend keeps no spare)
                removed = True
        if removed:
            self._sync_dir()
        for d in descs:
            self._segs.append(self._open_segment(*d))
        if self._segs:
            t = self._segs[-1]
            if not t.index_start and t.offsets and t.min > t.last:
                raise CorruptionError(
                    f"{t.path} at offset {self._tail_off}: acknowledged entries up to {t.min} missing"
                )

    def _read_meta(self) -> list[tuple[int, int, int, int, int, int]] | None:
        path = self._path(META_NAME)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        if len(raw) < 16 or raw[:8] != c.META_MAGIC:
            raise CorruptionError(f"{path} at offset 0: not a WAL metadata file (size {len(raw)})")
        plen, crc = c.U32.unpack_from(raw, 8)[0], c.U32.unpack_from(raw, 12)[0]
        if plen != len(raw) - 16:
            raise CorruptionError(f"{path} at offset 8: payload length {plen} but {len(raw) - 16} bytes follow")
        if c.crc32c(memoryview(raw)[16:]) != crc:
            raise CorruptionError(f"{path} at offset 12: checksum mismatch")
        pos = 16
        bad = CorruptionError(f"{path}: inconsistent metadata")
        try:
            (self._next_id,) = c.U64.unpack_from(raw, pos)
            (nseg,) = c.U32.unpack_from(raw, pos + 8)
            pos += 12
            descs: list[tuple[int, int, int, int, int, int]] = []
            for i in range(nseg):
                d = c.META_SEG.unpack_from(raw, pos)
                pos += c.META_SEG.size
                sid, base, lo, hi, index_start, _ = d
                last = i + 1 == nseg
                prev = descs[-1] if descs else None
                if sid >= self._next_id or base == 0 or lo < base:
                    raise bad
                if prev and (sid <= prev[0] or base != prev[3] + 1 or lo != base):
                    raise bad
                if index_start and (hi < lo or index_start < c.HEADER_SIZE):
                    raise bad
                if not index_start and (not last or hi != 0):
                    raise bad
                descs.append(d)
            (nkv,) = c.U32.unpack_from(raw, pos)
            pos += 4
            for _ in range(nkv):
                (kl,) = c.U32.unpack_from(raw, pos)
                key = raw[pos + 4 : pos + 4 + kl]
                pos += 4 + kl
                (vl,) = c.U32.unpack_from(raw, pos)
                value = raw[pos + 4 : pos + 4 + vl]
                pos += 4 + vl
                if len(key) != kl or len(value) != vl:
                    raise bad
                self._kv[key] = value
        except Exception as exc:  # struct.error on a short payload
            raise bad from exc
        if pos != len(raw):
            raise bad
        return descs

    def _write_meta(
        self, descs: Sequence[tuple[int, int, int, int, int, int]], next_id: int, kv: dict[bytes, bytes]
    ) -> None:
        parts = [c.U64.pack(next_id), c.U32.pack(len(descs))]
        parts += [c.META_SEG.pack(*d) for d in descs]
        parts.append(c.U32.pack(len(kv)))
        for k, v in kv.items():
            parts += [c.U32.pack(len(k)), k, c.U32.pack(len(v)), v]
        payload = b"".join(parts)
        raw = c.META_MAGIC + c.U32.pack(len(payload)) + c.U32.pack(c.crc32c(payload)) + payload
        tmp = self._path(META_TMP)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, raw)
            if self.sync:
                os.fdatasync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self._path(META_NAME))
        self._sync_dir()

    def _pread(self, s: _Segment, n: int, off: int) -> bytes:
        fd = s.fd if s.fd >= 0 else os.open(s.path, os.O_RDONLY)
        try:
            return os.pread(fd, n, off)
        finally:
            if fd != s.fd:
                os.close(fd)

    def _open_segment(self, sid: int, base: int, lo: int, hi: int, index_start: int, min_size: int) -> _Segment:
        s = _Segment(sid, base, lo, hi, index_start, min_size, self._path(c.segment_name(base, sid)))
        try:
            s.fd = os.open(s.path, os.O_RDWR)
        except FileNotFoundError:
            raise CorruptionError(f"{s.path} at offset 0: segment file missing") from None
        s.size = os.fstat(s.fd).st_size
        if s.size < c.HEADER_SIZE or s.size < min_size:
            raise CorruptionError(
                f"{s.path} at offset {s.size}: segment truncated (expected at least {min_size} bytes)"
            )
        head = os.pread(s.fd, c.HEADER_SIZE, 0)
        magic, version, hid, hbase, hcrc = c.SEG_HEADER.unpack(head)
        if magic != c.SEG_MAGIC or version != c.SEG_VERSION:
            raise CorruptionError(f"{s.path} at offset 0: bad segment magic or version")
        if c.crc32c(head[:28]) != hcrc:
            raise CorruptionError(f"{s.path} at offset 28: segment header checksum mismatch")
        if hid != sid or hbase != base:
            raise CorruptionError(f"{s.path} at offset 8: segment header names another segment")
        if index_start:
            self._load_sealed(s, hcrc)
            os.close(s.fd)
            s.fd = -1
        else:
            self._scan_tail(s, hcrc)
        return s

    def _load_sealed(self, s: _Segment, seed: int) -> None:
        at = s.index_start
        damaged = CorruptionError(f"{s.path} at offset {at}: damaged index frame")
        head = os.pread(s.fd, c.FRAME_HEADER, at)
        if len(head) < c.FRAME_HEADER or head[0] != c.INDEX_FRAME:
            raise CorruptionError(f"{s.path} at offset {at}: index frame missing")
        (length,) = c.U32.unpack_from(head, 4)
        commit = at + c.FRAME_HEADER + c.pad8(length)
        count = length // 4
        if length % 4 or commit + c.COMMIT_SIZE > s.size or count < s.max - s.base + 1:
            raise damaged
        data = os.pread(s.fd, commit + c.COMMIT_SIZE - at, at)
        rel = commit - at
        if len(data) != rel + c.COMMIT_SIZE or data[rel : rel + 4] != c.COMMIT_TAG:
            raise damaged
        _, crc, start, frames = c.COMMIT.unpack_from(data, rel)
        view = memoryview(data)
        if start != at or frames != 0 or c.crc32c(view[rel + 8 : rel + 16], c.crc32c(view[:rel], seed)) != crc:
            raise damaged
        buf = data[c.FRAME_HEADER : c.FRAME_HEADER + length]
        s.offsets = [o for (o,) in c.U32.iter_unpack(buf)]

    def _scan_tail(self, s: _Segment, seed: int) -> None:
        """Recovery: keeps every batch whose commit checks out; a damaged batch is a torn final write (discarded)
        unless a valid commit frame follows it (then acknowledged data is damaged: CorruptionError)."""
        buf = os.pread(s.fd, s.size, 0)
        size, off = len(buf), c.HEADER_SIZE
        while True:
            start, n0, ok = off, len(s.offsets), False
            while off + c.FRAME_HEADER <= size:
                ftype = buf[off]
                (length,) = c.U32.unpack_from(buf, off + 4)
                if ftype in (c.ENTRY_FRAME, c.INDEX_FRAME):
                    total = c.FRAME_HEADER + c.pad8(length)
                    if off + total > size:
                        break
                    if ftype == c.ENTRY_FRAME:
                        if length < c.ENTRY_HEADER or c.U64.unpack_from(buf, off + 8)[0] != s.base + len(s.offsets):
                            break
                        s.offsets.append(off)
                    off += total
                elif ftype == c.COMMIT_FRAME:
                    if off + c.COMMIT_SIZE > size:
                        break
                    _, _, bstart, frames = c.COMMIT.unpack_from(buf, off)
                    if bstart != start or frames != len(s.offsets) - n0 or not c.commit_valid(buf, off, seed):
                        break
                    off += c.COMMIT_SIZE
                    ok = True
                    break
                else:
                    break
            if ok:
                continue
            del s.offsets[n0:]
            p = buf.find(c.COMMIT_TAG, start + 8)
            while p != -1:
                if p % 8 == 0 and c.commit_valid(buf, p, seed):
                    raise CorruptionError(f"{s.path} at offset {start}: damaged batch followed by valid ones")
                p = buf.find(c.COMMIT_TAG, p + 1)
            self._tail_off = start
            return

    def _release(self) -> None:
        for s in self._segs:
            if s.fd >= 0:
                os.close(s.fd)
                s.fd = -1
        self._segs = []
        if self._dirfd >= 0:
            os.close(self._dirfd)  # releases the flock
            self._dirfd = -1

    def close(self) -> None:
        with self._lock:
            self._release()

    @property
    def closed(self) -> bool:
        return self._dirfd < 0

    def _check_open(self) -> None:
        if self._dirfd < 0:
            raise StoreClosedError(f"log store {self.directory} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._failed:
            raise StoreFailedError(f"an earlier write to {self.directory} failed: reopen the log")

    # ------------------------------------------------------------------------------------------- reads

    def _empty(self) -> bool:
        segs = self._segs
        return not segs or (len(segs) == 1 and not segs[0].index_start and segs[0].min > segs[0].last)

    def first_index(self) -> int:
        with self._lock:
            self._check_open()
            return 0 if self._empty() else self._segs[0].min

    def last_index(self) -> int:
        with self._lock:
            self._check_open()
            return 0 if self._empty() else self._segs[-1].last

    def is_monotonic(self) -> bool:
        return True

    def _find(self, index: int) -> _Segment:
        if self._empty() or not self._segs[0].min <= index <= self._segs[-1].last:
            raise LogNotFoundError(f"log entry {index} not found")
        lo, hi = 0, len(self._segs)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._segs[mid].base <= index:
                lo = mid
            else:
                hi = mid
        s = self._segs[lo]
        if not s.min <= index <= s.last or index - s.base >= len(s.offsets):
            raise LogNotFoundError(f"log entry {index} not found")
        return s

    def _read_frame(self, index: int) -> tuple[Log, bytes]:
        s = self._find(index)
        off = s.offsets[index - s.base]
        limit = s.index_start or s.size
        if not c.HEADER_SIZE <= off < limit:
            raise CorruptionError(f"{s.path} at offset {s.index_start}: index frame points outside the segment")
        head = self._pread(s, c.FRAME_HEADER, off)
        length = c.U32.unpack_from(head, 4)[0] if len(head) == c.FRAME_HEADER else 0
        raw = self._pread(s, min(c.FRAME_HEADER + c.pad8(length), limit - off), off)
        try:
            log, used = c.decode_frame(raw, 0)
        except ValueError as exc:
            raise CorruptionError(f"{s.path} at offset {off}: {exc}") from None
        if log.index != index:
            raise CorruptionError(f"{s.path} at offset {off}: entry {log.index} found where {index} belongs")
        return log, raw[:used]

    def get_log(self, index: int) -> Log:
        with self._lock:
            self._check_open()
            return self._read_frame(index)[0]

    def get_logs(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Log]:
        with self._lock:
            self._check_open()
            out: list[Log] = []
            size = 0
            for i in range(lo, hi + 1):
                log, raw = self._read_frame(i)
                size += len(raw)
                if max_bytes is not None and out and size > max_bytes:
                    break
                out.append(log)
            return out

    def get_encoded(self, lo: int, hi: int, max_bytes: int | None = None) -> bytes:
        with self._lock:
            self._check_open()
            if self._empty() or lo > hi:
                return b""
            hi = min(hi, self._segs[-1].last)
            parts: list[bytes] = []
            size = 0
            for i in range(lo, hi + 1):
                raw = self._read_frame(i)[1]
                if max_bytes is not None and parts and size + len(raw) > max_bytes:
                    break
                size += len(raw)
                parts.append(raw)
            return b"".join(parts)

    # ------------------------------------------------------------------------------------------- writes

    def store_log(self, log: Log) -> None:
        self.store_logs((log,))

    def store_logs(self, logs: Sequence[Log]) -> None:
        if not logs:
            return
        for prev, log in pairwise(logs):
            if log.index != prev.index + 1:
                raise NonContiguousError(f"log entry {log.index} follows {prev.index} in the batch")
        frames = [c.encode_frame(log) for log in logs]
        self._commit(logs[0].index, frames)

    def store_encoded(self, frames: bytes | bytearray | memoryview) -> None:
        buf = bytes(frames)
        if not buf:
            return
        parts: list[bytes] = []
        pos = first = prev = 0
        while pos < len(buf):
            try:
                log, end = c.decode_frame(buf, pos)
            except ValueError as exc:
                raise InvalidEntryError(f"encoded batch at byte {pos}: {exc}") from None
            if parts and log.index != prev + 1:
                raise NonContiguousError(f"log entry {log.index} follows {prev} in the batch")
            first = first or log.index
            prev = log.index
            parts.append(buf[pos:end])
            pos = end
        self._commit(first, parts)

    def _commit(self, first: int, frames: list[bytes]) -> None:
        with self._lock:
            self._check_writable()
            empty = self._empty()
            last = 0 if empty else self._segs[-1].last
            if not empty and first != last + 1:
                raise NonContiguousError(f"log entry {first} does not follow the last index {last}")
            try:
                if empty and self._segs and (self._segs[0].base != first or self._segs[0].min != first):
                    self._drop_all()
                batch = b"".join(frames)
                need = len(batch) + c.COMMIT_SIZE
                if c.HEADER_SIZE + need > MAX_SEGMENT_SIZE:
                    raise InvalidEntryError("batch too large for one segment")
                t = self._segs[-1] if self._segs else None
                if t is not None and not t.index_start and t.offsets and self._tail_off + need > t.size:
                    at = self._write_index(t)
                    t.index_start, t.max = at, t.base + len(t.offsets) - 1
                    os.close(t.fd)
                    t.fd = -1
                    t = self._create_tail(first, need)
                elif t is None or t.index_start:
                    t = self._create_tail(first, need)
                at = self._tail_off
                if at + need > t.size:
                    os.ftruncate(t.fd, at + need)
                    t.size = at + need
                data = batch + c.commit_frame(batch, self._seed(t), at, len(frames))
                os.pwrite(t.fd, data, at)
                if self.sync:
                    os.fdatasync(t.fd)
            except OSError as exc:
                self._failed = True
                raise LogStoreIOError(exc.errno, f"write to {self.directory}: {exc}") from exc
            pos = at
            for f in frames:
                t.offsets.append(pos)
                pos += len(f)
            self._tail_off = at + need

    def _seed(self, s: _Segment) -> int:
        seed: int = c.U32.unpack(self._pread(s, 4, 28))[0]
        return seed

    def _write_index(self, s: _Segment) -> int:
        at = self._tail_off
        body = bytes([c.INDEX_FRAME, 0, 0, 0]) + c.U32.pack(4 * len(s.offsets))
        body += b"".join(c.U32.pack(o) for o in s.offsets)
        body += bytes(c.pad8(len(body)) - len(body))
        data = body + c.commit_frame(body, self._seed(s), at, 0)
        os.pwrite(s.fd, data, at)
        if self.sync:
            os.fdatasync(s.fd)
        self._tail_off = at + len(data)
        return at

    def _create_tail(self, base: int, need: int) -> _Segment:
        sid = self._next_id
        size = max(self.segment_size, c.HEADER_SIZE + need)
        s = _Segment(sid, base, base, 0, 0, self.segment_size, self._path(c.segment_name(base, sid)))
        s.fd = os.open(s.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        zeros = bytes(ZERO_CHUNK)
        for off in range(0, self.segment_size, ZERO_CHUNK):
            os.pwrite(s.fd, zeros[: min(ZERO_CHUNK, self.segment_size - off)], off)
        if size > self.segment_size:
            os.ftruncate(s.fd, size)
        s.size = size
        os.pwrite(s.fd, c.segment_header(sid, base), 0)
        if self.sync:
            os.fdatasync(s.fd)
        self._sync_dir()
        try:
            self._write_meta([x.desc() for x in self._segs] + [s.desc()], sid + 1, self._kv)
        except BaseException:
            # Whichever metadata reached the disk decides at the next open (an unlisted file is removed then).
            os.close(s.fd)
            raise
        self._segs.append(s)
        self._next_id = sid + 1
        self._tail_off = c.HEADER_SIZE
        return s

    def _install(self, keep: list[_Segment]) -> None:
        dropped = [s for s in self._segs if s not in keep]
        self._segs = keep
        for s in dropped:
            if s.fd >= 0:
                os.close(s.fd)
            os.unlink(s.path)
        if dropped:
            self._sync_dir()

    def _drop_all(self) -> None:
        self._write_meta([], self._next_id, self._kv)
        self._install([])

    def delete_range(self, lo: int, hi: int) -> None:
        with self._lock:
            self._check_writable()
            if self._empty() or lo > hi:
                return
            first, last = self._segs[0].min, self._segs[-1].last
            if hi < first or lo > last:
                return
            try:
                if lo <= first and hi >= last:
                    self._drop_all()
                elif lo <= first:
                    new_first = hi + 1
                    k = 0
                    while self._segs[k].index_start and self._segs[k].last < new_first:
                        k += 1
                    keep = self._segs[k:]
                    descs = [s.desc() for s in keep]
                    descs[0] = (descs[0][0], descs[0][1], new_first, *descs[0][3:])
                    self._write_meta(descs, self._next_id, self._kv)
                    keep[0].min = new_first
                    self._install(keep)
                elif hi >= last:
                    keep_last = lo - 1
                    k = 0
                    while k + 1 < len(self._segs) and self._segs[k + 1].base <= keep_last:
                        k += 1
                    s = self._segs[k]
                    at = s.index_start or self._write_index(s)
                    descs = [x.desc() for x in self._segs[:k]]
                    descs.append((s.id, s.base, s.min, keep_last, at, s.min_size))
                    self._write_meta(descs, self._next_id, self._kv)
                    s.index_start, s.max = at, keep_last
                    if s.fd >= 0:
                        os.close(s.fd)
                        s.fd = -1
                    self._install(self._segs[: k + 1])
                else:
                    raise NonContiguousError(f"cannot delete {lo}..{hi} from the middle of the log {first}..{last}")
            except OSError as exc:
                self._failed = True
                raise LogStoreIOError(exc.errno, f"truncate {self.directory}: {exc}") from exc

    # ------------------------------------------------------------------------------------------- stable store

    def set(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._check_writable()
            kv = dict(self._kv)
            kv[bytes(key)] = bytes(value)
            try:
                self._write_meta([s.desc() for s in self._segs], self._next_id, kv)
            except OSError as exc:
                self._failed = True
                raise LogStoreIOError(exc.errno, f"write {self.directory}/{META_NAME}: {exc}") from exc
            self._kv = kv

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            self._check_open()
            return self._kv.get(bytes(key))


__all__ = ["PyWALStore"]
