"""The FSM's fast path for runs of Consul KV `set` commands: the pure-Python reference of ``_kvset`` (Cython over
csrc/kvset.c), with the same API.

Why a fast path: a KV workload commits mostly plain `set` commands, and the general path (decode the body into
dicts, build a DirEntry with checked fields, dispatch, then memdb's generic insert with its index planning) costs
several microseconds each. Here a run of them is applied in one loop that reads the few fields a `set` uses straight
from the msgpack bytes and writes the `kvs` table's primary index directly.

Invariants, enforced here and relied on by `FSM.apply_batch`:
- `parse_set` accepts only bodies the general path would apply without error, and reports the same fields it
  would (see csrc/kvset.h for the exact rules); anything else returns None and the caller applies that entry
  through the general path, which decides and reports errors as for any command.
- `apply_set_run` writes exactly what `state.kvs.kvs_set` would, entry by entry, or stops before an entry it
  cannot handle with nothing of that entry written. It handles only entries whose stored and new versions hold no
  session, so the `kvs` table's other index (`session`) never changes: the primary index is the whole update.
- The `kvs` index-table entry is the caller's: `apply_set_run` returns the last index it wrote at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from raftstore.logstore.log import Log, LogType
from raftstore.state.records import DirEntry

KVS_TYPE = 2  # MessageType.KVS (not imported: raftstore.fsm.messages would import this package's __init__)
_MAX_DEPTH = 32  # csrc/kvset.h KV_MAX_DEPTH


class SetCommand(NamedTuple):
    """What a `set` uses: the Key's raw bytes, the Value (None for absent or nil), Flags and LockIndex."""

    key: bytes
    value: bytes | None
    flags: int
    lock_index: int


class _NotFast(Exception):
    """Internal: the body is not in the fast form (take the general path)."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise _NotFast
        return self.data[self.pos]

    def take(self, n: int) -> bytes:
        if len(self.data) - self.pos < n:
            raise _NotFast
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def be(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def raw(self) -> bytes | None:
        """A raw string (fixstr, str8/16/32), or None (nothing consumed) when the next object is not one."""
        b = self.peek()
        if b & 0xE0 == 0xA0:
            self.pos += 1
            return self.take(b & 0x1F)
        if 0xD9 <= b <= 0xDB:
            self.pos += 1
            return self.take(self.be(1 << (b - 0xD9)))
        return None

    def bin(self) -> bytes | None:
        b = self.peek()
        if 0xC4 <= b <= 0xC6:
            self.pos += 1
            return self.take(self.be(1 << (b - 0xC4)))
        return None

    def nil(self) -> bool:
        if self.peek() == 0xC0:
            self.pos += 1
            return True
        return False

    def uint(self) -> int:
        """An unsigned integer (positive fixint, uint8..64) or nil (0); anything else is not the fast form."""
        b = self.peek()
        if b <= 0x7F:
            self.pos += 1
            return b
        if b == 0xC0:
            self.pos += 1
            return 0
        if 0xCC <= b <= 0xCF:
            self.pos += 1
            return self.be(1 << (b - 0xCC))
        raise _NotFast

    def map_header(self) -> int:
        b = self.peek()
        if b & 0xF0 == 0x80:
            self.pos += 1
            return b & 0x0F
        if b in (0xDE, 0xDF):
            self.pos += 1
            return self.be(2 if b == 0xDE else 4)
        raise _NotFast

    def skip_key(self, depth: int) -> None:
        b = self.peek()
        if 0x80 <= b <= 0x9F or b in (0xDC, 0xDD, 0xDE, 0xDF):  # fixmap, fixarray, array16/32, map16/32
            raise _NotFast  # a map or array key is unhashable: msgpack fails on it
        self.skip(depth)

    def skip(self, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _NotFast
        b = self.peek()
        self.pos += 1
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
            return
        if b & 0xE0 == 0xA0:
            self.take(b & 0x1F)
        elif b & 0xF0 == 0x80:
            self.skip_pairs(b & 0x0F, depth + 1)
        elif b & 0xF0 == 0x90:
            for _ in range(b & 0x0F):
                self.skip(depth + 1)
        elif 0xC4 <= b <= 0xC6:
            self.take(self.be(1 << (b - 0xC4)))
        elif 0xD9 <= b <= 0xDB:
            self.take(self.be(1 << (b - 0xD9)))
        elif b == 0xCA:
            self.take(4)
        elif b == 0xCB:
            self.take(8)
        elif 0xCC <= b <= 0xCF:
            self.take(1 << (b - 0xCC))
        elif 0xD0 <= b <= 0xD3:
            self.take(1 << (b - 0xD0))
        elif b in (0xDC, 0xDD):
            for _ in range(self.be(2 if b == 0xDC else 4)):
                self.skip(depth + 1)
        elif b in (0xDE, 0xDF):
            self.skip_pairs(self.be(2 if b == 0xDE else 4), depth + 1)
        else:  # 0xc1 (never used), ext and fixext: msgpack gives them meanings this reader does not repeat
            raise _NotFast

    def skip_pairs(self, pairs: int, depth: int) -> None:
        for _ in range(pairs):
            self.skip_key(depth)
            self.skip(depth)

    def string_or_nil(self) -> bytes:
        if self.nil():
            return b""
        s = self.raw()
        if s is None:
            raise _NotFast
        return s


def _dirent(r: _Reader) -> SetCommand:
    key, value, flags, lock_index = b"", None, 0, 0
    for _ in range(r.map_header()):
        name = r.raw()
        if name is None:
            r.skip_key(2)
            r.skip(2)
        elif name == b"Key":
            key = r.string_or_nil()
        elif name == b"Value":
            if r.nil():
                value = None
            else:
                value = r.raw()
                if value is None:
                    value = r.bin()
                if value is None:
                    raise _NotFast
        elif name == b"Flags":
            flags = r.uint()
        elif name == b"LockIndex":
            lock_index = r.uint()
        elif name in (b"CreateIndex", b"ModifyIndex"):
            r.uint()
        elif name == b"Session":
            r.string_or_nil()
        else:
            r.skip(2)
    return SetCommand(key, value, flags, lock_index)


def parse_set(body: bytes) -> SetCommand | None:
    """The fields of a plain `set` command's body (without its type byte), or None when it is not in the fast form."""
    r = _Reader(body)
    try:
        op_is_set = False
        command = None
        for _ in range(r.map_header()):
            name = r.raw()
            if name is None:
                r.skip_key(1)
                r.skip(1)
            elif name == b"Op":
                op = r.raw()
                if op is None:
                    raise _NotFast
                op_is_set = op == b"set"
            elif name == b"DirEnt":
                command = _dirent(r)
            else:
                r.skip(1)
    except _NotFast:
        return None
    if not op_is_set or command is None or r.pos != len(body):
        return None
    return command


def apply_set_run(logs: Sequence[Log], start: int, id_txn: Any) -> tuple[int, int]:
    """Apply `logs[start:]` while each entry is a plain `set` (or not a command at all, which the FSM skips).

    `id_txn` is the radix write transaction of the `kvs` table's `id` index. Returns `(stop, last)`: `logs[stop]` is
    the first entry left for the general path (`len(logs)` when none is), and `last` the index of the last entry
    that wrote (0 if none did; a set that changes nothing writes nothing, as in Consul). Every applied `set`'s
    response is None."""
    last = 0
    i = start
    while i < len(logs):
        log = logs[i]
        if log.type != LogType.COMMAND:
            i += 1
            continue
        data = log.data
        if type(data) is not bytes or not data or data[0] & 0x7F != KVS_TYPE:
            break
        command = parse_set(data[1:])
        if command is None:
            break
        pk = command.key + b"\x00"
        existing: DirEntry | None = id_txn.get(pk)
        value = command.value if command.value is not None else b""
        if existing is not None:
            if existing.Session:
                break  # the session index would change: the general path maintains it
            if existing.Value == value and existing.Flags == command.flags and existing.LockIndex == command.lock_index:
                i += 1
                continue  # Consul skips a set that changes nothing: ModifyIndex stays
            create_index = existing.CreateIndex
        else:
            create_index = log.index
        key = command.key.decode("utf-8", "surrogateescape")
        id_txn.insert(pk, DirEntry(key, value, command.flags, "", command.lock_index, create_index, log.index))
        last = log.index
        i += 1
    return i, last


def untrack_entry(entry: Any) -> Any:
    """The C version stops the cycle collector tracking a stored DirEntry with atomic fields (a memory-layout
    optimisation with no visible effect: such a record is in no cycle); pure Python has no way to, so this returns
    `entry` as it is."""
    return entry
