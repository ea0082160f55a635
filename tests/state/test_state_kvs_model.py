"""Property test: random KV command sequences through the FSM agree with a small dict model of Consul's rules
(values, CreateIndex/ModifyIndex, tombstones, the index reported by list), and apply_batch agrees with apply."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from raftstore.fsm import FSM, MessageType, encode
from raftstore.logstore.log import Log

KEYS = ["a", "a/b", "a/c", "a/b/d", "b", "ab"]
op = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.binary(max_size=3)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(b"")),
    st.tuples(st.just("delete-tree"), st.sampled_from(["", "a", "a/", "b"]), st.just(b"")),
    st.tuples(st.just("cas0"), st.sampled_from(KEYS), st.binary(max_size=3)),
)


class Model:
    def __init__(self) -> None:
        self.kv: dict[str, tuple[bytes, int, int]] = {}  # key -> (value, create, modify)
        self.stones: dict[str, int] = {}
        self.kvs_index = 0

    def apply(self, idx: int, verb: str, key: str, value: bytes) -> object:
        if verb == "set":
            old = self.kv.get(key)
            if old is not None and old[0] == value:
                return None
            self.kv[key] = (value, old[1] if old else idx, idx)
            self.kvs_index = idx
        elif verb == "cas0":
            if key in self.kv:
                return False
            self.kv[key] = (value, idx, idx)
            self.kvs_index = idx
            return True
        elif verb == "delete":
            if key in self.kv:
                del self.kv[key]
                self.stones[key] = idx
                self.kvs_index = idx
        else:
            doomed = [k for k in self.kv if k.startswith(key)]
            for k in doomed:
                del self.kv[k]
            if doomed:
                if key:
                    self.stones[key] = idx
                self.kvs_index = idx
        return None

    def list_index(self, prefix: str) -> int:
        found = [m for _, _, m in (v for k, v in self.kv.items() if k.startswith(prefix))]
        found += [i for k, i in self.stones.items() if k.startswith(prefix)]
        best = max(found, default=0)
        if best == 0 or prefix == "":
            return max([self.kvs_index, *self.stones.values()])
        return best


def command(verb: str, key: str, value: bytes) -> bytes:
    if verb == "cas0":
        return encode(MessageType.KVS, {"Op": "cas", "DirEnt": {"Key": key, "Value": value, "ModifyIndex": 0}})
    return encode(MessageType.KVS, {"Op": verb, "DirEnt": {"Key": key, "Value": value}})


@settings(max_examples=150)
@given(st.lists(op, max_size=40))
def test_kv_commands_match_the_model(ops: list[tuple[str, str, bytes]]) -> None:
    fsm, batched, model = FSM(), FSM(), Model()
    logs = [Log(i + 1, 1, data=command(*o)) for i, o in enumerate(ops)]
    for log, (verb, key, value) in zip(logs, ops, strict=True):
        assert fsm.apply(log) == model.apply(log.index, verb, key, value)
    batched.apply_batch(logs)
    assert {e.Key: (e.Value, e.CreateIndex, e.ModifyIndex) for e in fsm.state.kvs_list("")[1]} == model.kv
    assert {t.Key: t.ModifyIndex for t in fsm.state.tombstones()} == model.stones
    for prefix in ["", "a", "a/", "b", "zz"]:
        assert fsm.state.kvs_list(prefix)[0] == model.list_index(prefix)
    one, two = io.BytesIO(), io.BytesIO()
    fsm.snapshot().persist(one)
    batched.snapshot().persist(two)
    assert one.getvalue() == two.getvalue()
