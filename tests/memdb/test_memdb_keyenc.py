"""The C key encoder (raftstore.memdb._keyenc) against its pure-Python reference (raftstore.memdb.keyenc): the
same keys, the same updates of the radix txns, and the same errors, for objects of every shape."""

from __future__ import annotations

from collections import UserDict
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftstore.memdb import (
    IndexSchema,
    IntFieldIndex,
    MemDB,
    MemDBError,
    StringFieldIndex,
    StringSliceFieldIndex,
    TableSchema,
    _keyenc,
    keyenc,
)
from raftstore.memdb.plan import TablePlan
from raftstore.radix import Tree


class Lower(StringFieldIndex):
    """A subclass: must take the reference path (it could override from_object)."""


def _plan(lowercase: bool, unique_tags: bool) -> TablePlan:
    return TablePlan(
        TableSchema(
            "t",
            indexes={
                "id": IndexSchema("id", StringFieldIndex("id", lowercase=lowercase), unique=True),
                "node": IndexSchema("node", StringFieldIndex("node", lowercase=lowercase), allow_missing=True),
                "tags": IndexSchema(
                    "tags", StringSliceFieldIndex("tags", lowercase=lowercase), unique=unique_tags, allow_missing=True
                ),
                "sub": IndexSchema("sub", Lower("node"), allow_missing=True),
                "rank": IndexSchema("rank", IntFieldIndex("rank"), allow_missing=True),
            },
        )
    )


@dataclass
class Rec:
    id: Any
    node: Any
    tags: Any
    rank: Any = 0


class Attrs:
    """A plain object without some of the fields."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


strings = st.one_of(st.text(max_size=4), st.sampled_from(["", "Ünï", "ß", "a\x00b", "ABC"]))
values = st.one_of(strings, st.none(), st.integers(), st.binary(max_size=2))
tag_values = st.one_of(
    st.lists(st.one_of(strings, st.integers()), max_size=3),
    st.lists(strings, max_size=3).map(tuple),
    strings,
    st.none(),
    st.integers(),
)


@st.composite
def objects(draw: st.DrawFn) -> Any:
    fields = {"id": draw(values), "node": draw(values), "tags": draw(tag_values), "rank": draw(st.integers(-5, 5))}
    if draw(st.booleans()):
        fields.pop(draw(st.sampled_from(sorted(fields))))
    shape = draw(st.sampled_from(["dict", "userdict", "attrs", "dataclass"]))
    if shape == "dict":
        return fields
    if shape == "userdict":
        return UserDict(fields)
    if shape == "dataclass" and len(fields) == 4:
        return Rec(**fields)
    return Attrs(**fields)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the very exception (type and message) must match
        return ("error", type(exc), str(exc))


@settings(max_examples=1000)
@given(obj=objects(), lowercase=st.booleans(), unique_tags=st.booleans())
def test_object_keys_match_the_reference(obj: Any, lowercase: bool, unique_tags: bool) -> None:
    plan = _plan(lowercase, unique_tags)
    assert _outcome(_keyenc.object_keys, plan.specs, obj) == _outcome(keyenc.object_keys, plan.specs, obj)


def test_fast_path_keys() -> None:
    plan = _plan(lowercase=True, unique_tags=False)
    keys = _keyenc.object_keys(plan.specs, {"id": "Ab", "node": "Ünï", "tags": ["X", "", "y"], "rank": 1})
    assert keys == [
        [b"ab\x00"],
        ["ünï".encode() + b"\x00ab\x00"],
        [b"x\x00ab\x00", b"y\x00ab\x00"],
        ["Ünï".encode() + b"\x00ab\x00"],  # the subclass is not lowercase
        [b"\x80\x00\x00\x00\x00\x00\x00\x01ab\x00"],
    ]
    assert _keyenc.object_keys(plan.specs, {"id": "", "node": "x"}) == [None]


@pytest.mark.parametrize("impl", [keyenc, _keyenc], ids=["py", "c"])
def test_insert_keys_stops_at_an_existing_object(impl: Any) -> None:
    txns = [Tree().txn() for _ in range(3)]
    assert impl.insert_keys(txns, [[b"k"], [b"a", b"b"], None], "obj") is None
    assert [len(t) for t in txns] == [1, 2, 0]
    assert impl.insert_keys(txns, [[b"k"], [b"c"], [b"d"]], "new") == "obj"
    assert [len(t) for t in txns] == [1, 2, 0]  # only the id index was written: the caller does the update
    assert txns[0][b"k"] == "new"


def test_memdb_accelerated_and_reference_agree(Svc: Any, services_schema: Any) -> None:
    results = []
    for accelerated in (True, False):
        db = MemDB(services_schema(), accelerated=accelerated)
        with db.txn(write=True) as txn:
            for i in range(50):
                txn.insert("services", Svc(f"s{i}", f"n{i % 7}", f"Name{i % 3}", (f"t{i % 4}",), {"k": str(i)}, i))
            with pytest.raises(MemDBError, match="missing value for index 'node'"):
                txn.insert("services", Svc("x", "", "n"))
        txn = db.txn()
        results.append([[o.id for o in txn.get("services", ix)] for ix in ("id", "node", "name", "tags", "port")])
    assert results[0] == results[1]
