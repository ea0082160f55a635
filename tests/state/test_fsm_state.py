"""The FSM over the state store: apply, apply_batch, snapshot/restore, determinism, malformed input."""

from __future__ import annotations

import io
import random

import msgpack
import pytest

from raftstore.fsm import FSM, IGNORE_UNKNOWN_TYPE_FLAG, CommandDecodeError, MessageType, UnknownCommandError, encode
from raftstore.fsm.snapshot_stream import SnapshotFormatError
from raftstore.logstore.log import Log
from raftstore.memdb import WatchSet
from raftstore.state import InvalidRequestError

SID = "2f7d6b5a-0000-4000-8000-000000000001"


def kvs(op: str, key: str, value: bytes = b"", **extra: object) -> bytes:
    return encode(MessageType.KVS, {"Op": op, "DirEnt": {"Key": key, "Value": value, **extra}})


def logs(datas: list[bytes], start: int = 1) -> list[Log]:
    return [Log(index=start + i, term=1, data=d) for i, d in enumerate(datas)]


def mixed_log(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = [
        encode(
            MessageType.REGISTER,
            {"Node": "n1", "Address": "10.0.0.1", "Check": {"CheckID": "serfHealth", "Status": "passing"}},
        ),
        encode(
            MessageType.SESSION, {"Op": "create", "Session": {"ID": SID, "Node": "n1", "NodeChecks": ["serfHealth"]}}
        ),
    ]
    for i in range(n):
        key = f"k/{rng.randrange(n // 4 + 1)}/{rng.randrange(8)}"
        roll = rng.random()
        if roll < 0.02:
            node = f"node-{rng.randrange(20)}"
            service = {"ID": f"svc-{rng.randrange(3)}", "Service": "web", "Port": rng.randrange(1000)}
            check = {"CheckID": "alive", "ServiceID": service["ID"], "Status": rng.choice(["passing", "critical"])}
            out.append(encode(MessageType.REGISTER, {"Node": node, "Service": service, "Check": check}))
        elif roll < 0.03:
            out.append(encode(MessageType.DEREGISTER, {"Node": f"node-{rng.randrange(20)}"}))
        elif roll < 0.7:
            out.append(kvs("set", key, rng.randbytes(rng.randrange(1, 40)), Flags=i))
        elif roll < 0.8:
            out.append(kvs("delete", key))
        elif roll < 0.85:
            out.append(kvs("delete-tree", key.rsplit("/", 1)[0] + "/"))
        elif roll < 0.95:
            out.append(kvs("lock", key, b"L", Session=SID))
        else:
            out.append(kvs("unlock", key, Session=SID))
    out.append(encode(MessageType.TOMBSTONE, {"Op": "reap", "ReapIndex": n // 2}))
    return out


def snapshot_bytes(fsm: FSM) -> bytes:
    sink = io.BytesIO()
    snap = fsm.snapshot()
    snap.persist(sink)
    snap.release()
    return sink.getvalue()


def test_apply_kvs_ops_and_responses() -> None:
    fsm = FSM()
    assert fsm.apply(Log(1, 1, data=kvs("set", "a", b"1"))) is None
    assert fsm.apply(Log(2, 1, data=kvs("cas", "a", b"2", ModifyIndex=1))) is True
    assert fsm.apply(Log(3, 1, data=kvs("cas", "a", b"3", ModifyIndex=1))) is False
    error = fsm.apply(Log(4, 1, data=kvs("lock", "a", Session=SID)))
    assert isinstance(error, InvalidRequestError) and "invalid session" in str(error)
    assert isinstance(
        fsm.apply(Log(5, 1, data=encode(MessageType.KVS, {"Op": "frob", "DirEnt": {}}))), InvalidRequestError
    )
    idx, entry = fsm.state.kvs_get("a")
    assert idx == 2 and entry is not None and entry.Value == b"2"


def test_session_and_txn_commands() -> None:
    fsm = FSM()
    fsm.apply(Log(1, 1, data=encode(MessageType.REGISTER, {"Node": "n1"})))
    assert (
        fsm.apply(Log(2, 1, data=encode(MessageType.SESSION, {"Op": "create", "Session": {"ID": SID, "Node": "n1"}})))
        == SID
    )
    resp = fsm.apply(
        Log(
            3,
            1,
            data=encode(MessageType.TXN, {"Ops": [{"KV": {"Verb": "lock", "DirEnt": {"Key": "x", "Session": SID}}}]}),
        )
    )
    assert resp["Errors"] is None and resp["Results"][0]["KV"]["LockIndex"] == 1
    resp = fsm.apply(
        Log(4, 1, data=encode(MessageType.TXN, {"Ops": [{"KV": {"Verb": "check-not-exists", "DirEnt": {"Key": "x"}}}]}))
    )
    assert resp == {"Results": None, "Errors": [{"OpIndex": 0, "What": "key 'x' exists"}]}
    fsm.apply(Log(5, 1, data=encode(MessageType.SESSION, {"Op": "destroy", "Session": {"ID": SID}})))
    assert fsm.state.kvs_get("x")[1].Session == ""  # type: ignore[union-attr]
    fsm.apply(Log(6, 1, data=encode(MessageType.DEREGISTER, {"Node": "n1"})))
    assert fsm.state.nodes() == (6, [])


def test_unknown_types() -> None:
    fsm = FSM()
    assert fsm.apply(Log(1, 1, data=encode(77, {}, ignore_unknown=True))) is None
    assert (77 | IGNORE_UNKNOWN_TYPE_FLAG) > 127
    with pytest.raises(UnknownCommandError, match="Unknown 77"):
        fsm.apply(Log(2, 1, data=encode(77, {})))


def test_malformed_bodies_leave_state_unchanged() -> None:
    fsm = FSM()
    fsm.apply(Log(1, 1, data=kvs("set", "a", b"1")))
    before = snapshot_bytes(fsm)
    with pytest.raises(CommandDecodeError):
        fsm.apply(Log(2, 1, data=bytes([MessageType.KVS]) + b"\xc1garbage"))
    with pytest.raises(CommandDecodeError):
        fsm.apply(Log(3, 1, data=bytes([MessageType.KVS]) + msgpack.packb([1, 2])))
    for bad in (
        {"Op": "set", "DirEnt": "nope"},
        {"Op": "set", "DirEnt": {"Key": 5}},
        {"Op": "set", "DirEnt": {"Key": "b", "Flags": -1}},
    ):
        assert isinstance(fsm.apply(Log(4, 1, data=encode(MessageType.KVS, bad))), InvalidRequestError)
    assert isinstance(
        fsm.apply(
            Log(5, 1, data=encode(MessageType.REGISTER, {"Node": "n", "Check": {"CheckID": "c", "ServiceID": "s"}}))
        ),
        InvalidRequestError,
    )
    assert snapshot_bytes(fsm) == before


def test_apply_batch_matches_apply_and_is_deterministic() -> None:
    datas = mixed_log(2000, seed=7)
    one, batched, again = FSM(), FSM(), FSM()
    single = [one.apply(log) for log in logs(datas)]
    responses = []
    entries = logs(datas)
    for start in range(0, len(entries), 64):
        responses.extend(batched.apply_batch(entries[start : start + 64]))
    again.apply_batch(entries)
    assert [type(r) for r in responses] == [type(r) for r in single]
    assert snapshot_bytes(one) == snapshot_bytes(batched) == snapshot_bytes(again)


def test_snapshot_persists_while_applies_go_on_and_restores() -> None:
    fsm = FSM()
    fsm.apply_batch(logs(mixed_log(3000, seed=1)))
    snap = fsm.snapshot()
    frozen = fsm.state.kvs_list("")
    fsm.apply(Log(10**6, 1, data=kvs("delete-tree", "")))
    sink = io.BytesIO()
    snap.persist(sink)
    restored = FSM()
    ws = WatchSet()
    old_state = restored.state
    old_state.kvs_get("anything", ws)
    sink.seek(0)
    restored.restore(sink)
    assert ws.fired()  # blocking queries on the replaced store wake up
    assert restored.state is not old_state
    idx, entries = restored.state.kvs_list("")
    assert entries == frozen[1] and idx == frozen[0]
    assert restored.state.session_get(SID)[1] is not None
    # only KV changed after the snapshot was taken: the catalog must match the live one
    assert restored.state.nodes() == fsm.state.nodes() and restored.state.nodes()[1]
    assert restored.state.check_service_nodes("web") == fsm.state.check_service_nodes("web")
    assert restored.state.checks_in_state("any") == fsm.state.checks_in_state("any")
    assert snapshot_bytes(restored) == sink.getvalue()


def test_snapshot_record_shapes_are_consuls() -> None:
    fsm = FSM()
    fsm.apply(Log(1, 1, data=kvs("set", "a", b"\xff\x00", Flags=2)))
    fsm.apply(Log(2, 1, data=kvs("set", "b", b"x")))
    fsm.apply(Log(3, 1, data=kvs("delete", "b")))
    data = snapshot_bytes(fsm)
    unpacker = msgpack.Unpacker(io.BytesIO(data), raw=True)
    assert unpacker.unpack() == {b"LastIndex": 3}
    assert unpacker.read_bytes(1) == bytes([MessageType.KVS])
    record = unpacker.unpack()
    assert list(record) == [b"LockIndex", b"Key", b"Flags", b"Value", b"Session", b"CreateIndex", b"ModifyIndex"]
    assert record[b"Value"] == b"\xff\x00"
    assert unpacker.read_bytes(1) == bytes([MessageType.TOMBSTONE])
    assert unpacker.unpack() == {b"Key": b"b", b"ModifyIndex": 3}
    assert unpacker.read_bytes(1) == bytes([MessageType.INDEX])
    assert b"\xd9" not in data and b"\xc4" not in data  # old spec: no str8, no bin


def test_restore_refuses_bad_streams_and_keeps_state() -> None:
    fsm = FSM()
    fsm.apply(Log(1, 1, data=kvs("set", "keep", b"1")))
    good = snapshot_bytes(fsm)
    for bad, match in (
        (good + bytes([MessageType.PREPARED_QUERY]) + msgpack.packb({}), "unrecognized record type"),
        (good + bytes([MessageType.KVS]) + msgpack.packb("x"), "must be a map"),
        (good[:-3], "truncated"),
    ):
        with pytest.raises(SnapshotFormatError, match=match):
            fsm.restore(io.BytesIO(bad))
        assert fsm.state.kvs_get("keep")[1] is not None


def test_restore_100k_mixed_records_equal_state() -> None:
    fsm = FSM()
    datas = [kvs("set", f"key/{i:06d}", str(i).encode(), Flags=i % 7) for i in range(100_000)]
    datas += [kvs("delete", f"key/{i:06d}") for i in range(0, 100_000, 97)]
    entries = logs(datas)
    for start in range(0, len(entries), 1024):
        fsm.apply_batch(entries[start : start + 1024])
    data = snapshot_bytes(fsm)
    restored = FSM()
    restored.restore(io.BytesIO(data))
    assert restored.state.kvs_list("") == fsm.state.kvs_list("")
    assert restored.state.tombstones() == fsm.state.tombstones()
    assert restored.state.max_index() == fsm.state.max_index()


def test_lock_delay_uses_the_injected_clock_and_stays_out_of_snapshots() -> None:
    now = [1000.0]
    fsm, other = FSM(clock=lambda: now[0]), FSM()
    datas = [
        encode(MessageType.REGISTER, {"Node": "n1"}),
        encode(MessageType.SESSION, {"Op": "create", "Session": {"ID": SID, "Node": "n1", "LockDelay": 5 * 10**9}}),
        kvs("lock", "leader", b"me", Session=SID),
        encode(MessageType.SESSION, {"Op": "destroy", "Session": {"ID": SID}}),
    ]
    fsm.apply_batch(logs(datas))
    other.apply_batch(logs(datas))
    assert fsm.state.kvs_lock_delay("leader") == pytest.approx(5.0)
    now[0] += 5.5
    assert fsm.state.kvs_lock_delay("leader") == 0.0
    assert snapshot_bytes(fsm) == snapshot_bytes(other)


@pytest.mark.parametrize("count", [0, 1, 5, 9])
def test_write_many_matches_write(count: int) -> None:
    from raftstore.fsm.snapshot_stream import SnapshotWriter

    values = [{"Key": f"k{i}", "Value": b"\xff" * i} for i in range(count)]
    one, many = io.BytesIO(), io.BytesIO()
    w1, w2 = SnapshotWriter(one, 7), SnapshotWriter(many, 7)
    for value in values:
        w1.write(MessageType.KVS, value)
    w2.write_many(MessageType.KVS, values, chunk=4)
    assert one.getvalue() == many.getvalue() and w1.records == w2.records == count


def test_autopilot_config_commands_and_snapshot() -> None:
    from raftstore.autopilot.command import encode_set_config_command
    from raftstore.autopilot.config import AutopilotConfig, AutopilotSetConfigRequest

    fsm = FSM()
    config = AutopilotConfig(max_trailing_logs=99)
    assert fsm.apply(Log(3, 1, data=encode_set_config_command(AutopilotSetConfigRequest(config=config)))) is None
    index, stored = fsm.state.autopilot_config()
    assert index == 3 and stored.max_trailing_logs == 99 and (stored.create_index, stored.modify_index) == (3, 3)
    stale = AutopilotSetConfigRequest(config=AutopilotConfig(min_quorum=3, modify_index=1), cas=True)
    assert fsm.apply(Log(4, 1, data=encode_set_config_command(stale))) is False
    fresh = AutopilotSetConfigRequest(config=AutopilotConfig(min_quorum=3, modify_index=3), cas=True)
    assert fsm.apply(Log(5, 1, data=encode_set_config_command(fresh))) is True
    bad = encode(MessageType.AUTOPILOT, {"Config": {"MaxTrailingLogs": -1}})
    assert isinstance(fsm.apply(Log(6, 1, data=bad)), InvalidRequestError)
    data = snapshot_bytes(fsm)
    restored = FSM()
    restored.restore(io.BytesIO(data))
    assert restored.state.autopilot_config() == fsm.state.autopilot_config()
    assert restored.state.autopilot_config()[1].min_quorum == 3
    assert snapshot_bytes(restored) == data
