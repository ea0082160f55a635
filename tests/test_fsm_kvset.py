"""The FSM's KV-set fast path: the C implementation (raftstore.fsm._kvset) and its pure-Python reference
(raftstore.fsm.kvset) under one suite, and both against the general path.

What must hold (raftstore.fsm.kvset's contract):
- `parse_set` accepts only bodies the general path applies without error, with the same fields; C and Python agree
  on every body, valid or not;
- an FSM applying batches with the fast path ("c" or "python") reaches byte-identical snapshots and identical
  responses to one without it ("off"), on random mixes of every KV operation, sessions and catalog commands.
"""

from __future__ import annotations

import gc
import io
import random
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftstore.fsm import FSM, MessageType, decode_body, encode, kvset
from raftstore.fsm.codec import CommandDecodeError
from raftstore.logstore.log import Log, LogType
from raftstore.memdb import TxnError, WatchSet
from raftstore.state import InvalidRequestError
from raftstore.state.records import DirEntry
from raftstore.state.schema import KVS
from raftstore.testing.fuzz import targets

_kvset = pytest.importorskip("raftstore.fsm._kvset", reason="the C extension is not built")

IMPLS = {"c": _kvset, "python": kvset}
SID = "2f7d6b5a-0000-4000-8000-000000000001"


@pytest.fixture(params=sorted(IMPLS))
def impl(request: pytest.FixtureRequest) -> Any:
    return IMPLS[request.param]


def body(request: Any, bin_type: bool = False) -> bytes:
    return bytes(msgpack.packb(request, use_bin_type=bin_type))


def general(raw: bytes) -> kvset.SetCommand | None:
    """The general path's reading of a body (the fuzz target's oracle), as a SetCommand."""
    fields = targets.general_set(raw)
    return kvset.SetCommand(*fields) if fields is not None else None


# ------------------------------------------------------------------------------------------------ parse_set


def test_a_plain_set_is_parsed(impl: Any) -> None:
    raw = body({"Datacenter": "dc1", "Op": "set", "DirEnt": {"Key": "a/b", "Value": "xyz", "Flags": 300}})
    assert impl.parse_set(raw) == kvset.SetCommand(b"a/b", b"xyz", 300, 0)


@pytest.mark.parametrize(
    "request_",
    [
        {"Op": "set", "DirEnt": {"Key": "k", "Value": b"\x00\xff", "LockIndex": 7, "Session": ""}},
        {"Op": "set", "DirEnt": {"Key": "k", "Value": None, "Flags": None}},
        {"Op": "set", "DirEnt": {"Key": None}},
        {"Op": "set", "DirEnt": {}},
        {"Op": "set", "DirEnt": {"Key": "k", "Flags": 2**64 - 1, "CreateIndex": 2**40, "ModifyIndex": 70000}},
        {"Op": "set", "DirEnt": {"Key": "k" * 70000, "Value": "v" * 300}},
        {"Op": "set", "DirEnt": {"Key": "k", "Extra": [1, {"a": [None, 1.5, True]}]}, "WriteRequest": {"Token": ""}},
        {"DirEnt": {"Key": "first"}, "Op": "set"},
        {1: 2, "Op": "set", "DirEnt": {3: 4, "Key": "k"}},
    ],
)
def test_what_the_general_path_applies_is_parsed_alike(impl: Any, request_: dict[str, Any]) -> None:
    for bin_type in (False, True):
        raw = body(request_, bin_type)
        assert impl.parse_set(raw) == general(raw) is not None


@pytest.mark.parametrize(
    "raw",
    [
        body({"Op": "cas", "DirEnt": {"Key": "k"}}),
        body({"Op": "set"}),
        body({"Op": "set", "DirEnt": None}),
        body({"Op": "set", "DirEnt": {"Key": 5}}),
        body({"Op": "set", "DirEnt": {"Key": "k", "Flags": -1}}),
        body({"Op": "set", "DirEnt": {"Key": "k", "Flags": 1.0}}),
        body({"Op": "set", "DirEnt": {"Key": "k", "LockIndex": True}}),
        body({"Op": "set", "DirEnt": {"Key": "k", "Value": 5}}),
        body({"Op": "set", "DirEnt": {"Key": "k", "Session": 5}}),
        body({"Op": 1, "DirEnt": {"Key": "k"}}),
        body({"Op": "set", "DirEnt": {"Key": "k"}}) + b"\xc0",  # trailing bytes
        body(["Op", "set"]),
        b"",
        body({"Op": "set", "DirEnt": {"Key": "k", "X": msgpack.ExtType(5, b"x")}}),
        # a signed encoding of a non-negative integer: valid for the general path, left to it
        b"\x82\xa2Op\xa3set\xa6DirEnt\x81\xa5Flags\xd0\x05",
    ],
)
def test_anything_else_is_left_to_the_general_path(impl: Any, raw: bytes) -> None:
    assert impl.parse_set(raw) is None


def test_an_unhashable_map_key_is_left_to_the_general_path(impl: Any) -> None:
    # {"Op": "set", "DirEnt": {"Key": "k"}, [1]: 2}: msgpack-python refuses the array key.
    raw = b"\x83\xa2Op\xa3set\xa6DirEnt\x81\xa3Key\xa1k\x91\x01\x02"
    assert impl.parse_set(raw) is None
    with pytest.raises(CommandDecodeError):
        decode_body(raw)


def test_invalid_utf8_keys_keep_their_bytes(impl: Any) -> None:
    raw = b"\x82\xa2Op\xa3set\xa6DirEnt\x82\xa3Key\xa3k\xff\xfe\xa5Value\xa2\xed\xa0"
    assert impl.parse_set(raw) == general(raw) == kvset.SetCommand(b"k\xff\xfe", b"\xed\xa0", 0, 0)


def _near_kvs() -> st.SearchStrategy[dict[Any, Any]]:
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.binary(max_size=8),
    )
    field = st.sampled_from(["Key", "Value", "Flags", "LockIndex", "CreateIndex", "ModifyIndex", "Session", "X"])
    dirent = st.dictionaries(field, scalar, max_size=7)
    top = st.fixed_dictionaries(
        {"Op": st.sampled_from(["set", "set", "cas", 3]), "DirEnt": st.one_of(dirent, dirent, scalar)},
        optional={"Datacenter": st.text(max_size=4), "WriteRequest": st.dictionaries(st.text(max_size=3), scalar)},
    )
    return top


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_=_near_kvs(),
    bin_type=st.booleans(),
    mutation=st.none() | st.tuples(st.integers(0, 400), st.integers(0, 255)),
)
def test_c_and_python_agree_with_each_other_and_with_msgpack(
    request_: dict[str, Any], bin_type: bool, mutation: tuple[int, int] | None
) -> None:
    raw = bytearray(body(request_, bin_type))
    if mutation is not None and raw:
        raw[mutation[0] % len(raw)] = mutation[1]
    data = bytes(raw)
    parsed = _kvset.parse_set(data)
    assert parsed == kvset.parse_set(data)
    if parsed is not None:
        assert parsed == general(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_and_agree(data: bytes) -> None:
    parsed = _kvset.parse_set(data)
    assert parsed == kvset.parse_set(data)
    if parsed is not None:
        assert parsed == general(data)


# ------------------------------------------------------------------------------------------------ the FSM


def kvs(op: str, key: str, value: bytes = b"", **extra: object) -> bytes:
    return encode(MessageType.KVS, {"Op": op, "DirEnt": {"Key": key, "Value": value, **extra}})


def random_log(n: int, seed: int) -> list[Log]:
    """Sets (many repeating a key's content), every other KV op, sessions and locks, catalog writes, tombstone
    reaps, non-command entries and malformed commands, so runs of fast sets are cut at every kind of entry."""
    rng = random.Random(seed)
    datas: list[bytes | None] = [
        encode(
            MessageType.REGISTER,
            {"Node": "n1", "Address": "10.0.0.1", "Check": {"CheckID": "serfHealth", "Status": "passing"}},
        ),
        encode(
            MessageType.SESSION, {"Op": "create", "Session": {"ID": SID, "Node": "n1", "NodeChecks": ["serfHealth"]}}
        ),
    ]
    for i in range(n):
        key = f"k/{rng.randrange(12)}"
        roll = rng.random()
        if roll < 0.55:
            value = rng.choice([b"a", b"b", b""])
            flags = rng.choice([0, 0, 1])
            datas.append(kvs("set", key, value, Flags=flags, LockIndex=rng.choice([0, 0, 3]), Session=""))
        elif roll < 0.62:
            datas.append(kvs("lock", key, b"L", Session=SID))
        elif roll < 0.67:
            datas.append(kvs("unlock", key, Session=SID))
        elif roll < 0.72:
            datas.append(kvs("delete", key))
        elif roll < 0.75:
            datas.append(kvs("delete-tree", "k/"))
        elif roll < 0.78:
            datas.append(kvs("cas", key, b"c", ModifyIndex=rng.randrange(i + 3)))
        elif roll < 0.81:
            datas.append(encode(MessageType.TOMBSTONE, {"Op": "reap", "ReapIndex": rng.randrange(i + 3)}))
        elif roll < 0.84:
            datas.append(encode(MessageType.REGISTER, {"Node": f"node-{rng.randrange(3)}", "Address": "10.0.0.2"}))
        elif roll < 0.87:
            datas.append(None)  # a no-op entry
        elif roll < 0.89:
            datas.append(kvs("set", key, b"x", Flags=-1))  # refused: Flags must be unsigned
        elif roll < 0.91:
            datas.append(b"\x02\x82\xa2Op\xa3set\xa6DirEnt\x81\xa5Flags\xd0\x05")  # signed encoding: general path
        elif roll < 0.93:
            datas.append(kvs("set", key, b"y", Session=5))  # refused: Session must be a string
        else:
            datas.append(kvs("set", f"other/{rng.randrange(50)}", rng.randbytes(4)))
    return [
        Log(index=i + 1, term=1, data=d) if d is not None else Log(index=i + 1, term=1, type=LogType.NOOP)
        for i, d in enumerate(datas)
    ]


def run(log: list[Log], mode: str, batch: int) -> tuple[list[str], bytes]:
    fsm = FSM(clock=lambda: 0.0, kv_fast_path=mode)
    responses: list[Any] = []
    for at in range(0, len(log), batch):
        responses.extend(fsm.apply_batch(log[at : at + batch]))
    return [repr(r) for r in responses], targets.state_bin(fsm)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_the_fast_path_gives_the_general_paths_state_and_responses(seed: int, batch: int) -> None:
    log = random_log(400, seed)
    expected = run(log, "off", batch)
    assert run(log, "c", batch) == expected
    assert run(log, "python", batch) == expected


def test_apply_batch_takes_any_iterable_and_reports_errors_per_entry() -> None:
    log = [Log(1, 1, data=kvs("set", "a", b"1")), Log(2, 1, data=kvs("set", "a", b"1", Flags=-1))]
    for mode in ("c", "python"):
        fsm = FSM(kv_fast_path=mode)
        responses = fsm.apply_batch(iter(log))
        assert responses[0] is None and isinstance(responses[1], InvalidRequestError)
        index, entry = fsm.state.kvs_get("a")
        assert entry is not None and (index, entry.Value, entry.CreateIndex) == (1, b"1", 1)


def test_a_set_that_changes_nothing_keeps_modify_index_and_the_tables_index() -> None:
    for mode in ("c", "python", "off"):
        fsm = FSM(kv_fast_path=mode)
        fsm.apply_batch([Log(1, 1, data=kvs("set", "a", b"1")), Log(2, 1, data=kvs("set", "b", b"2"))])
        fsm.apply_batch([Log(3, 1, data=kvs("set", "a", b"1")), Log(4, 1, data=kvs("set", "a", b"1"))])
        index, entry = fsm.state.kvs_get("a")
        assert entry is not None and (index, entry.CreateIndex, entry.ModifyIndex) == (1, 1, 1)
        assert fsm.state.kvs_list("")[0] == 2, mode


def test_fast_entries_are_untracked_by_the_cycle_collector() -> None:
    """The C path untracks the records it stores (their fields are atomic); checks the premise too."""
    fsm = FSM(kv_fast_path="c")
    fsm.apply_batch([Log(1, 1, data=kvs("set", "a", b"1", Flags=3))])
    entry = fsm.state.kvs_get("a")[1]
    assert entry is not None and not gc.is_tracked(entry)
    assert all(type(getattr(entry, f)) in (str, bytes, int) for f in DirEntry.__slots__)


def test_a_locked_key_takes_the_general_path_and_keeps_its_session() -> None:
    for mode in ("c", "python"):
        fsm = FSM(clock=lambda: 0.0, kv_fast_path=mode)
        fsm.apply_batch(random_log(0, 0)[:2])  # node and session
        fsm.apply_batch([Log(3, 1, data=kvs("lock", "a", b"L", Session=SID)), Log(4, 1, data=kvs("set", "a", b"n"))])
        entry = fsm.state.kvs_get("a")[1]
        assert entry is not None and (entry.Session, entry.Value, entry.ModifyIndex) == (SID, b"n", 4)
        with fsm.state.db.txn() as tx:
            assert [e.Key for e in tx.get(KVS, "session", SID)] == ["a"]


def test_an_unknown_fast_path_name_is_refused() -> None:
    with pytest.raises(ValueError, match="kv_fast_path"):
        FSM(kv_fast_path="fast")


def test_index_txns_is_refused_where_it_would_break_memdb_invariants() -> None:
    fsm = FSM()
    tx = fsm.state.db.txn(write=True)
    tx.track_changes()
    with pytest.raises(TxnError, match="tracked"):
        tx.index_txns(KVS)
    tx.abort()
    with pytest.raises(TxnError):
        fsm.state.db.txn().index_txns(KVS)


def test_untrack_entry_untracks_only_records_of_atomic_fields(impl: Any) -> None:
    entry = DirEntry("k", b"v", 1, "", 0, 2, 3)
    assert impl.untrack_entry(entry) is entry
    assert gc.is_tracked(entry) is (impl is kvset)  # the reference cannot untrack
    odd = DirEntry("k", b"v")
    odd.Value = [odd]  # type: ignore[assignment]  # a cycle: must stay visible to the collector
    assert impl.untrack_entry(odd) is odd and gc.is_tracked(odd)
    other = {"Key": "k"}
    assert impl.untrack_entry(other) is other


def test_restored_records_are_untracked_and_equal() -> None:
    fsm = FSM()
    fsm.apply_batch([Log(1, 1, data=kvs("set", "a", b"1")), Log(2, 1, data=kvs("delete", "a"))])
    fsm.apply_batch([Log(3, 1, data=kvs("set", "b", b"2"))])
    restored = FSM()
    restored.restore(io.BytesIO(targets.state_bin(fsm)))
    entry = restored.state.kvs_get("b")[1]
    assert entry is not None and not gc.is_tracked(entry)
    assert entry == fsm.state.kvs_get("b")[1]
    assert targets.state_bin(restored) == targets.state_bin(fsm)


@pytest.mark.parametrize("mode", ["c", "python"])
def test_fast_writes_fire_the_watches_of_blocking_queries(mode: str) -> None:
    fsm = FSM(kv_fast_path=mode)
    fsm.apply_batch([Log(1, 1, data=kvs("set", "a/x", b"1"))])
    on_key, on_prefix, on_missing = WatchSet(), WatchSet(), WatchSet()
    fsm.state.kvs_get("a/x", on_key)
    fsm.state.kvs_list("a/", on_prefix)
    fsm.state.kvs_get("b", on_missing)
    assert not (on_key.fired() or on_prefix.fired() or on_missing.fired())
    fsm.apply_batch([Log(2, 1, data=kvs("set", "a/x", b"2"))])
    assert on_key.fired() and on_prefix.fired()
    fsm.apply_batch([Log(3, 1, data=kvs("set", "b", b"3"))])
    assert on_missing.fired()
    assert fsm.state.kvs_get("b")[0] == 3 and fsm.state.kvs_list("")[0] == 3
