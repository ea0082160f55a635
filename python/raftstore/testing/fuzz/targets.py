"""Fuzz targets: one function per decoder that reads outside input, each stating that decoder's contract.

A target takes arbitrary bytes, feeds them to the decoder (directly, or as damage applied to a valid file), and
returns quietly when the decoder did what its contract says: produced a valid result, or raised its layer's
documented error. Anything else (another exception, a wrong result, a changed state) escapes as an exception or an
`AssertionError`: that is a bug. The same targets run under hypothesis (tests/fuzz), under atheris and under the
plain random-mutation driver (`python -m raftstore.testing.fuzz`), so the contract is written once.

Each target also offers `seeds()`: valid inputs to mutate from (a random byte string almost never gets past a
decoder's first check; a flipped bit in a valid WAL segment reaches the recovery code).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from raftstore.fsm import FSM, CommandDecodeError, MessageType, UnknownCommandError, decode_body, encode
from raftstore.fsm.persist import restore_store
from raftstore.fsm.snapshot_stream import SnapshotFormatError
from raftstore.logstore import CorruptionError, Log, LogType, PyWALStore
from raftstore.raft import wire
from raftstore.raft.configuration import Configuration, Server, Suffrage
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
from raftstore.raft.snapshots import FileSnapshotStore, SnapshotCorruptError
from raftstore.raft.transport.framing import FrameDecoder, FrameError, encode_frame
from raftstore.snapshot.archive import ArchiveError, read_archive, write_archive
from raftstore.state.errors import StateError

SID = "adf4238a-882b-9ddc-4a9d-5b6758e4159e"


# ---------------------------------------------------------------------------------------------- Raft frames


FRAME_LIMIT = 1 << 16


def frames(data: bytes) -> None:
    """FrameDecoder: fed `data` in chunks (sizes taken from the first byte), it yields only complete frames within
    the limit, whose re-encoding is exactly a prefix of the input, or raises FrameError."""
    step = (data[0] if data else 0) + 1
    stream = data[1:]
    decoder = FrameDecoder(FRAME_LIMIT)
    out = bytearray()
    try:
        for start in range(0, len(stream), step):
            for kind, payload in decoder.feed(stream[start : start + step]):
                assert 0 <= kind <= 255 and len(payload) + 1 <= FRAME_LIMIT
                out += encode_frame(kind, payload)
    except FrameError:
        return
    assert stream.startswith(out), "frames do not re-encode to the bytes they came from"
    assert len(out) + decoder.buffered == len(stream)


def _messages() -> list[Message]:
    config = Configuration((Server("a", "127.0.0.1:1", Suffrage.VOTER), Server("b", "127.0.0.1:2", Suffrage.NONVOTER)))
    entries = [
        Log(5, 2, LogType.COMMAND, b"\x02\x81\xa2Op\xa3set", b"", 1.5),
        Log(6, 2, LogType.CONFIGURATION, config.encode(), b"x", 2.0),
    ]
    meta = SnapshotMeta(4, 1, config, 3)
    return [
        AppendEntriesRequest("a", "b", 2, 4, 1, entries, 5),
        AppendEntriesResponse("b", "a", 2, True, 6, 0, 0),
        HeartbeatRequest("a", "b", 2, 5, 7, 123456),
        HeartbeatResponse("b", "a", 2, 7, 123456),
        RequestVoteRequest("a", "b", 3, 6, 2, False, True),
        RequestVoteResponse("b", "a", 3, True, False),
        InstallSnapshotRequest("a", "b", 2, meta, b"chunk"),
        InstallSnapshotResponse("b", "a", 2, True, 10),
        TimeoutNowRequest("a", "b", 2),
    ]


def wire_message(data: bytes) -> None:
    """wire.decode: the first byte is the frame kind, the rest the body. A message or WireError; a decoded message
    encodes back to a body that decodes to the same message (nothing is half-decoded)."""
    if not data:
        return
    try:
        message = wire.decode(data[0], data[1:])
    except wire.WireError:
        return
    kind, body = wire.encode(message)
    assert kind == data[0]
    assert wire.decode(kind, body) == message, "a decoded message does not survive re-encoding"


def _wire_seeds() -> list[bytes]:
    seeds = []
    for message in _messages():
        kind, body = wire.encode(message)
        seeds.append(bytes([kind]) + body)
    return seeds


# ---------------------------------------------------------------------------------------------- Raft inbound


class _FakeOwner:
    """What `_InboundProtocol` needs of its `TCPTransport`; messages go through `wire.decode` like the runtime's."""

    def __init__(self) -> None:
        self.max_frame = FRAME_LIMIT
        self.rejected_connections = 0
        self._inbound: set[object] = set()
        self.messages = 0

    def on_message(self, sender: str, kind: int, payload: bytes) -> None:
        try:
            wire.decode(kind, payload)
        except wire.WireError:
            return
        self.messages += 1


class _FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1)

    def abort(self) -> None:
        self.aborted = True


def raft_inbound(data: bytes) -> None:
    """The Raft transport's receiving side (hello, then frames, then messages) on an arbitrary byte stream: it never
    raises; a bad hello or bad framing closes the connection (once) and nothing after it is delivered."""
    from raftstore.raft.transport.tcp import _InboundProtocol

    owner = _FakeOwner()
    protocol = _InboundProtocol(owner)  # type: ignore[arg-type]
    transport = _FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    step = (data[0] if data else 0) + 1
    stream = data[1:]
    for start in range(0, len(stream), step):
        protocol.data_received(stream[start : start + step])
    assert owner.rejected_connections <= 1
    assert transport.aborted == (owner.rejected_connections == 1)
    if protocol.sender is None:
        assert owner.messages == 0


def _inbound_seeds() -> list[bytes]:
    hello = encode_frame(0, msgpack.packb({"id": "a", "lane": "control", "v": 1}))
    body = hello + b"".join(encode_frame(seed[0], seed[1:]) for seed in _wire_seeds())
    return [b"\x00" + body, b"\x07" + body]


# ---------------------------------------------------------------------------------------------- FSM commands


def _seed_commands() -> list[bytes]:
    def kvs(op: str, key: str, value: bytes = b"", **extra: Any) -> bytes:
        return encode(MessageType.KVS, {"Op": op, "DirEnt": {"Key": key, "Value": value, **extra}})

    return [
        encode(MessageType.REGISTER, {"Node": "n1", "Address": "10.0.0.1", "Service": {"ID": "web", "Service": "web"}}),
        encode(
            MessageType.REGISTER,
            {"Node": "n1", "Address": "10.0.0.1", "Check": {"CheckID": "serfHealth", "Status": "passing"}},
        ),
        encode(MessageType.SESSION, {"Op": "create", "Session": {"ID": SID, "Node": "n1", "NodeChecks": []}}),
        kvs("set", "a/b", b"v1", Flags=3),
        kvs("cas", "a/b", b"v2", ModifyIndex=4),
        kvs("lock", "a/l", b"me", Session=SID),
        kvs("unlock", "a/l", b"", Session=SID),
        kvs("delete", "a/b"),
        kvs("delete-cas", "a/c", ModifyIndex=0),
        kvs("delete-tree", "a/"),
        encode(MessageType.TOMBSTONE, {"Op": "reap", "ReapIndex": 3}),
        encode(
            MessageType.TXN,
            {
                "Ops": [
                    {"KV": {"Verb": "set", "DirEnt": {"Key": "t", "Value": b"x"}}},
                    {"KV": {"Verb": "check-not-exists", "DirEnt": {"Key": "u"}}},
                ]
            },
        ),
        encode(MessageType.AUTOPILOT, {"Config": {"CleanupDeadServers": True, "MaxTrailingLogs": 250}, "CAS": False}),
        encode(MessageType.SESSION, {"Op": "destroy", "Session": {"ID": SID}}),
        encode(MessageType.DEREGISTER, {"Node": "n1"}),
        encode(77, {"x": 1}, ignore_unknown=True),
    ]


def general_set(body: bytes) -> tuple[bytes, bytes | None, int, int] | None:
    """What the FSM's general path makes of a KVS command body (msgpack, then DirEntry.from_record): the fields of
    a `set` it would apply (as raftstore.fsm.kvset.parse_set reports them), or None for anything else: the oracle
    the fast path is checked against."""
    from raftstore.state.errors import InvalidRequestError
    from raftstore.state.records import DirEntry

    try:
        request = decode_body(body)
    except CommandDecodeError:
        return None
    if request.get("Op") != "set":
        return None
    try:
        entry = DirEntry.from_record(request.get("DirEnt"))
    except InvalidRequestError:
        return None
    value = None if request["DirEnt"].get("Value") is None else entry.Value
    return entry.Key.encode("utf-8", "surrogateescape"), value, entry.Flags, entry.LockIndex


def kv_set(data: bytes) -> None:
    """The FSM's KV-set fast path parser (raftstore.fsm.kvset): the C one and the pure-Python reference agree on
    every command body, and whatever they accept, the general path reads as a `set` with the same fields (and
    applies without error). The input is a command without its type byte."""
    from raftstore.fsm import _kvset, kvset  # the C extension: imported only when this target runs

    parsed = _kvset.parse_set(data)
    assert parsed == kvset.parse_set(data), "the C and Python parsers disagree"
    if parsed is not None:
        general = general_set(data)
        assert tuple(parsed) == general, f"fast path read {parsed!r}, the general path {general!r}"


def _kv_set_seeds() -> list[bytes]:
    return [seed[1:] for seed in _seed_commands() if seed[0] == MessageType.KVS] + [
        msgpack.packb(
            {"Datacenter": "dc1", "Op": "set", "DirEnt": {"Key": "k", "Value": b"\xff", "Flags": 2**40}},
            use_bin_type=True,
        )
    ]


def state_bin(fsm: FSM) -> bytes:
    """The FSM's snapshot stream (state.bin): equal bytes, equal replicated state."""
    sink = io.BytesIO()
    snapshot = fsm.snapshot()
    snapshot.persist(sink)
    snapshot.release()
    return sink.getvalue()


def state_digest(fsm: FSM) -> str:
    """SHA-256 of `state_bin`: equal digests, equal replicated state."""
    return hashlib.sha256(state_bin(fsm)).hexdigest()


class CommandTarget:
    """FSM.apply on one command's bytes, against an FSM that keeps the state earlier inputs built (so later inputs
    meet existing keys, sessions and nodes). The contract (fsm.py): a response, possibly a StateError (or a txn's
    Errors) that leaves the state as it was; or CommandDecodeError / UnknownCommandError with the state unchanged."""

    def __init__(self) -> None:
        self.fsm = FSM(clock=lambda: 1000.0)
        self.index = 0
        for seed in _seed_commands()[:6]:
            self._apply(seed)

    def _apply(self, data: bytes) -> Any:
        self.index += 1
        return self.fsm.apply(Log(self.index, 1, LogType.COMMAND, data))

    def __call__(self, data: bytes) -> None:
        before = state_digest(self.fsm)
        try:
            response = self._apply(data)
        except (CommandDecodeError, UnknownCommandError):
            assert state_digest(self.fsm) == before, "an undecodable command changed the state"
            return
        after = state_digest(self.fsm)  # whatever a command stored, the state still persists
        refused = isinstance(response, StateError) or (isinstance(response, dict) and response.get("Errors"))
        if refused:
            assert after == before, f"a refused command changed the state: {response!r:.200}"


# ---------------------------------------------------------------------------------------------- state.bin


def _sample_fsm() -> FSM:
    target = CommandTarget()
    for seed in _seed_commands()[6:13]:
        target(seed)
    return target.fsm


class StateBinTarget:
    """FSM.restore on a state.bin stream: a new state, or SnapshotFormatError with the FSM's state untouched."""

    def __init__(self) -> None:
        self.fsm = FSM(clock=lambda: 1000.0)

    def __call__(self, data: bytes) -> None:
        before = self.fsm.state
        try:
            self.fsm.restore(io.BytesIO(data))
        except SnapshotFormatError:
            assert self.fsm.state is before, "a refused snapshot replaced the state"
            return
        restore_store(io.BytesIO(state_bin(self.fsm)))  # what was restored persists and restores again


# ---------------------------------------------------------------------------------------------- archives


def _archive_bytes() -> tuple[bytes, bytes]:
    """A valid archive and its decompressed tar."""
    state = state_bin(_sample_fsm())
    meta = {"ID": "2-20-1", "Index": 20, "Term": 2, "Size": len(state), "Version": 1}
    out = io.BytesIO()
    write_archive(out, meta, io.BytesIO(state))
    return out.getvalue(), gzip.decompress(out.getvalue())


def archive(data: bytes) -> None:
    """read_archive: an even first byte means the rest is a tar to gzip first (so mutations reach the tar and hash
    checks), an odd one that it is the gzip stream itself. A verified meta and state, or ArchiveError."""
    if not data:
        return
    raw = gzip.compress(data[1:], mtime=0) if data[0] % 2 == 0 else data[1:]
    state = io.BytesIO()
    try:
        meta = read_archive(io.BytesIO(raw), state)
    except ArchiveError:
        return
    assert isinstance(meta, dict) and meta.get("Size") == len(state.getvalue())


def _archive_seeds() -> list[bytes]:
    compressed, tar = _archive_bytes()
    return [b"\x00" + tar, b"\x01" + compressed]


# ---------------------------------------------------------------------------------------------- snapshot meta.json


class SnapshotMetaTarget:
    """FileSnapshotStore with two snapshots, one good and one whose meta.json is the input: `list()` never raises
    (it skips what it cannot read) and `open()` returns a verified snapshot or SnapshotCorruptError."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="raftstore-fuzz-meta-"))
        store = FileSnapshotStore(self.base, retain=5)
        for index in (10, 20):
            with store.create(index, 2, {"servers": ["a"]}, 3) as sink:
                sink.write(b"state %d" % index)
        self.store = store
        metas = store.list()
        self.good = metas[1].id
        self.fuzzed = metas[0].id
        self.meta_path = store.path / self.fuzzed / "meta.json"
        self.seed = self.meta_path.read_bytes()

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def __call__(self, data: bytes) -> None:
        self.meta_path.write_bytes(data)
        listed = self.store.list()
        assert self.good in [meta.id for meta in listed]
        assert all(meta.id in (self.good, self.fuzzed) for meta in listed)
        try:
            meta, reader = self.store.open(self.fuzzed)
        except SnapshotCorruptError:
            return
        with reader:
            content = reader.read()
        assert meta.id == self.fuzzed and meta.size == len(content)
        assert hashlib.sha256(content).hexdigest() == meta.sha256


# ---------------------------------------------------------------------------------------------- WAL


def _wal_logs(lo: int, hi: int, term: int = 1) -> list[Log]:
    return [
        Log(i, term, LogType.COMMAND, bytes([i % 251]) * (40 + i % 97), b"x" * (i % 3), 1.0 + i)
        for i in range(lo, hi + 1)
    ]


WAL_SEGMENT = 64 << 10
_DAMAGE = struct.Struct("<BBIB")  # file selector, operation, offset, value


@dataclass
class _WALImage:
    files: dict[str, bytes]
    logs: dict[int, Log]
    kv: dict[bytes, bytes]
    first: int
    last: int
    sealed_last: int


class WALTarget:
    """Opening a damaged WAL directory (segments and wal-meta): CorruptionError naming the file, or a store whose
    every readable entry is the one written (a damaged batch at the tail may be dropped as a torn write; a damaged
    sealed entry must raise CorruptionError when read), whose stable-store values are intact, and which accepts
    new entries and reopens with them.

    The input is a list of 7-byte damages ``[file selector][op][u32 offset][value]``: op 0 xors a byte, 1 sets it,
    2 truncates the file there, 3 zeroes 64 bytes; offsets are taken modulo the file's size."""

    def __init__(self, opener: Callable[..., Any]) -> None:
        self.opener = opener
        self.root = Path(tempfile.mkdtemp(prefix="raftstore-fuzz-wal-"))
        self.image = self._build()

    def _build(self) -> _WALImage:
        where = self.root / "pristine"
        with PyWALStore(where, segment_size=WAL_SEGMENT) as store:
            store.store_logs(_wal_logs(1, 200))
            for lo in range(201, 1100, 60):
                store.store_logs(_wal_logs(lo, lo + 59))
            store.delete_range(1, 120)
            store.set_uint64(b"CurrentTerm", 3)
            store.set(b"LastVoteCand", b"n1")
            store.delete_range(1000, 2000)
            store.store_logs(_wal_logs(1000, 1030, term=2))
            store.store_logs(_wal_logs(1031, 1040, term=2))
            first, last = store.first_index(), store.last_index()
            logs = {i: store.get_log(i) for i in range(first, last + 1)}
            kv = {k: v for k in (b"CurrentTerm", b"LastVoteCand") if (v := store.get(k)) is not None}
            sealed_last = max((s.last for s in store._segs if s.index_start), default=0)
        files = {p.name: p.read_bytes() for p in sorted(where.iterdir())}
        return _WALImage(files, logs, kv, first, last, sealed_last)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def seeds(self) -> list[bytes]:
        names = sorted(self.image.files)
        seeds = []
        for selector in range(len(names)):
            size = len(self.image.files[names[selector]])
            for offset in (0, 12, 28, 40, size // 2, size - 20):
                seeds.append(_DAMAGE.pack(selector, 0, max(offset, 0), 0x40))
        return seeds

    def _damaged_copy(self, data: bytes) -> Path:
        where = self.root / "case"
        if where.exists():
            shutil.rmtree(where)
        where.mkdir()
        files = dict(self.image.files)
        names = sorted(files)
        for pos in range(0, len(data) - _DAMAGE.size + 1, _DAMAGE.size):
            selector, op, offset, value = _DAMAGE.unpack_from(data, pos)
            name = names[selector % len(names)]
            content = bytearray(files[name])
            if not content:
                continue
            offset %= len(content)
            if op % 4 == 0:
                content[offset] ^= value or 1
            elif op % 4 == 1:
                content[offset] = value
            elif op % 4 == 2:
                del content[offset:]
            else:
                content[offset : offset + 64] = bytes(len(content[offset : offset + 64]))
            files[name] = bytes(content)
        for name, damaged in files.items():
            (where / name).write_bytes(damaged)
        return where

    def __call__(self, data: bytes) -> None:
        where = self._damaged_copy(data)
        image = self.image
        try:
            store = self.opener(where, segment_size=WAL_SEGMENT)
        except CorruptionError as error:
            assert str(where) in str(error), f"the error does not name the file: {error}"
            return
        with store:
            first, last = store.first_index(), store.last_index()
            if last:
                assert first == image.first, f"first index {first}, written {image.first}"
                assert image.sealed_last <= last <= image.last, f"last index {last}"
            for index in range(first, last + 1) if last else ():
                try:
                    got = store.get_log(index)
                except CorruptionError as error:
                    assert str(where) in str(error)
                    continue
                assert got == image.logs[index], f"entry {index} read back wrong"
            for key, value in image.kv.items():
                assert store.get(key) == value
            if not last:
                return
            more = _wal_logs(last + 1, last + 40, term=5)
            store.store_logs(more)
        with self.opener(where, segment_size=WAL_SEGMENT) as store:
            assert store.last_index() == last + 40
            for log in more:
                assert store.get_log(log.index) == log


# ---------------------------------------------------------------------------------------------- registry


@dataclass
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    close: Callable[[], None] = lambda: None
    doc: str = ""


def _wal_target(name: str, native: bool) -> Callable[[], Target]:
    def factory() -> Target:
        if native:
            from raftstore.logstore import WALStore  # the C extension: imported only when this target runs

            target = WALTarget(WALStore)
        else:
            target = WALTarget(PyWALStore)
        return Target(name, target, target.seeds, target.close, WALTarget.__doc__ or "")

    return factory


def _simple(name: str, run: Callable[[bytes], None], seeds: Callable[[], list[bytes]]) -> Callable[[], Target]:
    return lambda: Target(name, run, seeds, doc=run.__doc__ or "")


def _command_target() -> Target:
    target = CommandTarget()
    return Target("command", target, _seed_commands, doc=CommandTarget.__doc__ or "")


def _state_target() -> Target:
    target = StateBinTarget()
    return Target("state-bin", target, lambda: [state_bin(_sample_fsm())], doc=StateBinTarget.__doc__ or "")


def _meta_target() -> Target:
    target = SnapshotMetaTarget()
    return Target("snapshot-meta", target, lambda: [target.seed], target.close, SnapshotMetaTarget.__doc__ or "")


TARGETS: dict[str, Callable[[], Target]] = {
    "frames": _simple("frames", frames, lambda: [b"\x03" + seed for seed in _inbound_seeds()]),
    "wire": _simple("wire", wire_message, _wire_seeds),
    "raft-inbound": _simple("raft-inbound", raft_inbound, _inbound_seeds),
    "command": _command_target,
    "kv-set": _simple("kv-set", kv_set, _kv_set_seeds),
    "state-bin": _state_target,
    "archive": _simple("archive", archive, _archive_seeds),
    "snapshot-meta": _meta_target,
    "wal": _wal_target("wal", native=True),
    "pywal": _wal_target("pywal", native=False),
}
"""Every target by name; calling the value builds the target and its fixtures (temporary directories, a sample
FSM), which the caller releases with the target's `close`."""
