"""Fuzzing the FSM's command decoding and application, and state.bin restore.

Contract (raftstore.testing.fuzz.targets.CommandTarget / StateBinTarget): a command yields a response, possibly a
refusal (a StateError or a txn's Errors) that leaves the state digest unchanged, or raises CommandDecodeError /
UnknownCommandError with the state unchanged; whatever is stored still persists. A snapshot stream restores or
raises SnapshotFormatError with the FSM's state untouched. These run the C memdb, so they are not pure_python.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.fsm import FSM, CommandDecodeError, MessageType, UnknownCommandError, decode_body, encode
from raftstore.fsm.snapshot_stream import SnapshotFormatError, SnapshotReader, SnapshotWriter
from raftstore.logstore import Log, LogType
from raftstore.state.errors import InvalidRequestError
from raftstore.testing.fuzz import targets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import fuzz_settings, mutants, values

SEEDS = targets._seed_commands()
NAMES = st.sampled_from(
    [
        "Op",
        "DirEnt",
        "Key",
        "Value",
        "Flags",
        "Session",
        "ModifyIndex",
        "CreateIndex",
        "LockIndex",
        "Node",
        "Address",
        "ID",
        "Service",
        "Check",
        "CheckID",
        "ServiceID",
        "Status",
        "Ops",
        "KV",
        "Verb",
        "ReapIndex",
        "Config",
        "CAS",
        "NodeChecks",
        "ServiceChecks",
        "LockDelay",
        "Behavior",
        "TTL",
        "Datacenter",
        "TaggedAddresses",
        "NodeMeta",
        "Meta",
        "Port",
        "Tags",
        "SkipNodeUpdate",
        "Name",
        "Checks",
        "Index",
    ]
)
WORDS = st.sampled_from(
    ["set", "cas", "lock", "unlock", "delete", "delete-cas", "delete-tree", "reap", "create", "destroy", "get",
     "check-index", "check-session", "check-not-exists", "get-tree", "n1", targets.SID, "a/b", "a/", "", "web",
     "serfHealth", "passing", "release"]
)  # fmt: skip
LEAF = st.one_of(values, WORDS, st.binary(max_size=6))
BODY_VALUE = st.recursive(
    LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=5)), max_leaves=16
)
TYPES = st.one_of(st.sampled_from([0, 1, 2, 3, 5, 8, 9, 16, 77, 77 | 128]), st.integers(0, 255))


def _pack(type_byte: int, body: Any, bin_type: bool) -> bytes:
    return bytes([type_byte]) + msgpack.packb(body, use_bin_type=bin_type)


commands = st.builds(_pack, TYPES, st.dictionaries(NAMES, BODY_VALUE, max_size=6), st.booleans())


@fuzz_settings(60)
@given(st.lists(commands, min_size=1, max_size=8))
def test_structured_garbage_commands(datas: list[bytes]) -> None:
    target = targets.CommandTarget()
    for data in datas:
        target(data)


@fuzz_settings(200)
@given(mutants(SEEDS))
def test_mutated_commands(data: bytes) -> None:
    targets.CommandTarget()(data)


@fuzz_settings(100)
@given(st.binary(max_size=64))
def test_noise_commands(data: bytes) -> None:
    targets.CommandTarget()(data)


@fuzz_settings(200)
@given(mutants(targets._kv_set_seeds()))
def test_mutated_kv_set_bodies(data: bytes) -> None:
    targets.kv_set(data)


def _outcome(fsm: FSM, data: bytes, index: int) -> str:
    try:
        return type(fsm.apply(Log(index, 1, LogType.COMMAND, data))).__name__
    except (CommandDecodeError, UnknownCommandError) as error:
        return type(error).__name__


@fuzz_settings(40)
@given(st.lists(st.one_of(commands, mutants(SEEDS)), min_size=1, max_size=10))
def test_batched_apply_matches_one_by_one(datas: list[bytes]) -> None:
    """apply_batch shares one write transaction across KV commands: on garbage it must reach the same state (and
    stop at the same undecodable entry) as applying each entry alone."""
    alone, batched = targets.CommandTarget().fsm, targets.CommandTarget().fsm
    first = 7  # CommandTarget applied six seeds
    expected = [_outcome(alone, data, first + i) for i, data in enumerate(datas)]
    logs = [Log(first + i, 1, LogType.COMMAND, data) for i, data in enumerate(datas)]
    try:
        got = [type(r).__name__ for r in batched.apply_batch(logs)]
    except (CommandDecodeError, UnknownCommandError) as error:
        stop = expected.index(type(error).__name__)
        rerun = targets.CommandTarget().fsm
        for i, data in enumerate(datas[:stop]):
            _outcome(rerun, data, first + i)
        assert targets.state_digest(batched) == targets.state_digest(rerun)
        return
    assert got == expected
    assert targets.state_digest(batched) == targets.state_digest(alone)


def test_unhashable_map_key_is_a_decode_error() -> None:
    """Regression (fuzzing): msgpack raises TypeError for a map or array used as a map key; it escaped."""
    body = b"\x81\x81\xa1a\x01\x02"  # {{"a": 1}: 2}
    with pytest.raises(CommandDecodeError, match="malformed msgpack"):
        decode_body(body)
    target = targets.CommandTarget()
    before = targets.state_digest(target.fsm)
    with pytest.raises(CommandDecodeError):
        target.fsm.apply(Log(100, 1, LogType.COMMAND, b"\x02" + body))
    assert targets.state_digest(target.fsm) == before


def test_kvs_op_of_the_wrong_type_is_refused() -> None:
    """Regression (fuzzing): an Op that is a list raised TypeError from the set lookup."""
    fsm = FSM()
    response = fsm.apply(Log(1, 1, LogType.COMMAND, encode(MessageType.KVS, {"Op": ["set"], "DirEnt": {"Key": "k"}})))
    assert isinstance(response, InvalidRequestError)


def test_non_utf8_index_strings_are_refused_not_raised() -> None:
    """Regression (fuzzing): a node name or session id of raw bytes that are not UTF-8 made memdb's string index
    raise UnicodeEncodeError out of apply (stopping every replica). Now a refusal; the state is unchanged."""
    target = targets.CommandTarget()
    before = targets.state_digest(target.fsm)
    register = _pack(int(MessageType.REGISTER), {"Node": b"\xee\xff", "Address": "x"}, False)
    assert isinstance(target.fsm.apply(Log(100, 1, LogType.COMMAND, register)), InvalidRequestError)
    lock = encode(MessageType.KVS, {"Op": "lock", "DirEnt": {"Key": "k", "Session": b"\xff"}})
    assert isinstance(target.fsm.apply(Log(101, 1, LogType.COMMAND, lock)), InvalidRequestError)
    assert targets.state_digest(target.fsm) == before


def test_non_utf8_key_bytes_persist_and_restore_exactly() -> None:
    """Regression (fuzzing): a KV key of non-UTF-8 raw bytes was stored (its index is byte-exact) but made every
    later snapshot fail with UnicodeEncodeError; now the snapshot writes the original bytes back."""
    fsm = FSM()
    data = _pack(int(MessageType.KVS), {"Op": "set", "DirEnt": {"Key": b"k\xff", "Value": b"\x00\x80"}}, False)
    fsm.apply(Log(1, 1, LogType.COMMAND, data))
    stream = io.BytesIO()
    fsm.snapshot().persist(stream)
    assert b"k\xff" in stream.getvalue()
    restored = FSM()
    restored.restore(io.BytesIO(stream.getvalue()))
    assert restored.state.kvs_get("k\udcff")[1].Value == b"\x00\x80"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- state.bin

STATE_SEED = targets.state_bin(targets._sample_fsm())
RECORD_TYPES = st.one_of(st.sampled_from([0, 2, 3, 5, 9, 16]), st.integers(0, 255))


def _stream(last_index: int, records: list[tuple[int, Any]]) -> bytes:
    out = io.BytesIO()
    writer = SnapshotWriter(out, last_index)
    for record_type, value in records:
        writer.write(record_type, value)
    return out.getvalue()


@fuzz_settings(100)
@given(st.integers(0, 2**64 - 1), st.lists(st.tuples(RECORD_TYPES, BODY_VALUE), max_size=6))
def test_state_bin_structured_records(last_index: int, records: list[tuple[int, Any]]) -> None:
    targets.StateBinTarget()(_stream(last_index, records))


@fuzz_settings(200)
@given(mutants([STATE_SEED]))
def test_state_bin_mutated(data: bytes) -> None:
    targets.StateBinTarget()(data)


def test_state_bin_unhashable_map_key_is_a_format_error() -> None:
    """Regression (fuzzing): as for commands, a map as a map key escaped the reader as TypeError."""
    header = msgpack.packb({"LastIndex": 1})
    with pytest.raises(SnapshotFormatError, match="record 1"):
        list(SnapshotReader(io.BytesIO(header + b"\x02\x81\x81\xa1a\x01\x02")))
    with pytest.raises(SnapshotFormatError, match="header"):
        SnapshotReader(io.BytesIO(b"\x81\x81\xa1a\x01\x02"))
