"""A hypothesis model test: random write transactions (insert, delete, delete_all, delete_prefix, commit or
abort) against a plain list-of-objects model, on both radix backends; after every step every read form agrees.

The model knows nothing of key encodings: it filters a list and sorts by the values themselves. Strings avoid NUL,
so "value, then primary key" order is exactly the byte order of go-memdb's NUL-terminated keys.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftstore.memdb import (
    DBSchema,
    IndexSchema,
    IntFieldIndex,
    MemDB,
    StringFieldIndex,
    StringSliceFieldIndex,
    TableSchema,
)

SCHEMA = DBSchema(
    tables={
        "t": TableSchema(
            "t",
            indexes={
                "id": IndexSchema("id", StringFieldIndex("id"), unique=True),
                "node": IndexSchema("node", StringFieldIndex("node")),
                "tags": IndexSchema("tags", StringSliceFieldIndex("tags"), allow_missing=True),
                "rank": IndexSchema("rank", IntFieldIndex("rank")),
            },
        )
    }
)

text = st.text(alphabet="abé", min_size=1, max_size=3)
objects = st.fixed_dictionaries(
    {
        "id": text,
        "node": text,
        "tags": st.lists(text, max_size=3, unique=True),
        "rank": st.integers(-3, 3),
    }
)
ops = st.one_of(
    st.tuples(st.just("insert"), objects),
    st.tuples(st.just("delete"), text),
    st.tuples(st.just("delete_all"), st.sampled_from(["node", "tags"]), text),
    st.tuples(st.just("delete_prefix"), st.sampled_from(["id_prefix", "node_prefix", "tags_prefix"]), text),
)
txns = st.lists(st.tuples(st.lists(ops, min_size=1, max_size=6), st.booleans()), min_size=1, max_size=6)


def _b(s: str) -> bytes:
    return s.encode()


class Model:
    """The table as a list of objects (dicts), most recent state; reads computed by filtering and sorting."""

    def __init__(self, objs: list[dict[str, Any]] | None = None) -> None:
        self.objs: list[dict[str, Any]] = list(objs or [])

    def copy(self) -> Model:
        return Model(self.objs)

    def by_id(self, id_: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if o["id"] == id_), None)

    def insert(self, obj: dict[str, Any]) -> None:
        self.objs = [o for o in self.objs if o["id"] != obj["id"]] + [obj]

    def remove(self, doomed: list[dict[str, Any]]) -> None:
        ids = {o["id"] for o in doomed}
        self.objs = [o for o in self.objs if o["id"] not in ids]

    def entries(self, index: str) -> list[tuple[Any, dict[str, Any]]]:
        """(sort key, object) per index entry, in index order."""
        out: list[tuple[Any, dict[str, Any]]] = []
        for o in self.objs:
            if index == "id":
                out.append(((_b(o["id"]),), o))
            elif index == "node":
                out.append(((_b(o["node"]), _b(o["id"])), o))
            elif index == "rank":
                out.append(((o["rank"], _b(o["id"])), o))
            else:
                out.extend(((_b(t), _b(o["id"])), o) for t in o["tags"])
        out.sort(key=lambda e: e[0])
        return out

    def get(self, index: str, arg: Any = None, prefix: bool = False) -> list[str]:
        found = []
        for key, o in self.entries(index):
            value = key[0]
            if arg is None or (value.startswith(_b(arg)) if prefix else value == (arg if index == "rank" else _b(arg))):
                found.append(o["id"])
        return found


def _ids(it: Any) -> list[str]:
    return [o["id"] for o in it]


def _check(db: MemDB, model: Model, probes: list[str]) -> None:
    txn = db.txn()
    for index in ("id", "node", "tags", "rank"):
        assert _ids(txn.get("t", index)) == model.get(index), index
        assert _ids(txn.get_reverse("t", index)) == model.get(index)[::-1], index
    for p in probes:
        assert _ids(txn.get("t", "id_prefix", p)) == model.get("id", p, prefix=True)
        for index in ("node", "tags"):
            assert _ids(txn.get("t", index, p)) == model.get(index, p), (index, p)
            assert _ids(txn.get("t", f"{index}_prefix", p)) == model.get(index, p, prefix=True), (index, p)
        expected = model.by_id(p)
        assert txn.first("t", "id", p) is expected
    for rank in range(-3, 4):
        assert _ids(txn.get("t", "rank", rank)) == model.get("rank", rank)
        lower = [o["id"] for key, o in model.entries("rank") if key[0] >= rank]
        assert _ids(txn.lower_bound("t", "rank", rank)) == lower


# tree_factory is a class, never mutated: sharing it across examples is safe.
@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=txns)
def test_memdb_matches_a_list_model(plan: list[tuple[list[Any], bool]], tree_factory: Any) -> None:
    db = MemDB(SCHEMA, tree_factory=tree_factory)
    model = Model()
    probes = {"a", "b", "é", "ab"}
    for operations, commit in plan:
        pending = model.copy()
        txn = db.txn(write=True)
        for op in operations:
            if op[0] == "insert":
                obj = op[1]
                probes.add(obj["id"])
                txn.insert("t", obj)
                pending.insert(obj)
            elif op[0] == "delete":
                existing = pending.by_id(op[1])
                if existing is None:
                    continue
                txn.delete("t", {"id": op[1]})
                pending.remove([existing])
            elif op[0] == "delete_all":
                _, index, arg = op
                doomed = [pending.by_id(i) for i in pending.get(index, arg)]
                assert txn.delete_all("t", index, arg) == len(doomed)
                pending.remove([o for o in doomed if o is not None])
            else:
                _, index, prefix = op
                doomed_ids = pending.get(index[: -len("_prefix")], prefix, prefix=True)
                assert txn.delete_prefix("t", index, prefix) is bool(doomed_ids)
                pending.remove([o for o in pending.objs if o["id"] in doomed_ids])
            # the write txn reads its own writes
            assert _ids(txn.get("t", "id")) == pending.get("id")
        if commit:
            txn.commit()
            model = pending
        else:
            txn.abort()
        _check(db, model, sorted(probes))
