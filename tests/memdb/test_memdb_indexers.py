"""memdb indexers: byte encodings (go-memdb's, so iteration order is Consul's), argument checks and their errors.

These exercise no radix tree, hence no C code.
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any

import pytest

from raftstore.memdb import (
    BoolFieldIndex,
    CompoundIndex,
    CompoundMultiIndex,
    ConditionalIndex,
    FieldSetIndex,
    IndexBuilder,
    IndexerError,
    IntFieldIndex,
    MissingIndexValue,
    MultiFuncIndex,
    SchemaError,
    SingleFuncIndex,
    StringFieldIndex,
    StringMapFieldIndex,
    StringSliceFieldIndex,
    UintFieldIndex,
    UUIDFieldIndex,
)

pytestmark = pytest.mark.pure_python

UUID = "b4d5a6e2-1f3c-4a8b-9c0d-7e6f5a4b3c2d"
UUID_BYTES = bytes.fromhex(UUID.replace("-", ""))


@dataclass
class Obj:
    id: str = "my-cool-obj"
    foo: str | None = "Testing"
    qux: list[str] = field(default_factory=lambda: ["Test", "Test2"])
    zod: dict[str, str] = field(default_factory=lambda: {"Role": "Server", "instance_type": "m3.medium", "": "3"})
    int_: int = -1
    uint: int = 7
    flag: bool = True
    uid: Any = UUID
    empty: str = ""


Point = namedtuple("Point", ["x", "y"])


# ------------------------------------------------------------------------------------------------ strings


def test_string_field_from_object_is_nul_terminated() -> None:
    assert StringFieldIndex("foo").from_object(Obj()) == b"Testing\x00"
    assert StringFieldIndex("foo", lowercase=True).from_object(Obj()) == b"testing\x00"
    assert StringFieldIndex("foo").from_object(Obj(foo="héllo")) == "héllo".encode() + b"\x00"


@pytest.mark.parametrize("value", ["", None])
def test_string_field_empty_or_none_is_missing(value: Any) -> None:
    assert StringFieldIndex("foo").from_object(Obj(foo=value)) is None


def test_string_field_reads_mapping_keys_attributes_and_namedtuples() -> None:
    assert StringFieldIndex("foo").from_object({"foo": "bar"}) == b"bar\x00"
    # A mapping's field is its key even when the mapping type has an attribute of that name.
    assert StringFieldIndex("keys").from_object({"keys": "k"}) == b"k\x00"
    assert StringFieldIndex("x").from_object(Point("a", "b")) == b"a\x00"


def test_string_field_errors() -> None:
    with pytest.raises(IndexerError, match=r"field 'nope' for .* is invalid"):
        StringFieldIndex("nope").from_object(Obj())
    with pytest.raises(IndexerError, match=r"field 'nope' for .* is invalid"):
        StringFieldIndex("nope").from_object({"foo": "x"})
    with pytest.raises(IndexerError, match=r"field 'int_' is of type int; want a string"):
        StringFieldIndex("int_").from_object(Obj())


def test_string_field_args() -> None:
    ix = StringFieldIndex("foo", lowercase=True)
    assert ix.from_args("FOO") == b"foo\x00"
    assert ix.prefix_from_args("FO") == b"fo"
    assert ix.prefix_from_args("") == b""
    with pytest.raises(IndexerError, match=r"must provide only a single argument"):
        ix.from_args()
    with pytest.raises(IndexerError, match=r"must provide only a single argument"):
        ix.from_args("a", "b")
    with pytest.raises(IndexerError, match=r"argument must be a string: 42"):
        ix.from_args(42)
    with pytest.raises(IndexerError, match=r"argument must be a string"):
        ix.prefix_from_args(None)


def test_string_order_puts_shorter_first() -> None:
    ix = StringFieldIndex("foo")
    keys = [ix.from_args(s) for s in ["a", "ab", "a b", "b"]]
    assert sorted(keys) == [b"a\x00", b"a b\x00", b"ab\x00", b"b\x00"]


def test_string_slice_field() -> None:
    ix = StringSliceFieldIndex("qux")
    assert ix.from_object(Obj()) == [b"Test\x00", b"Test2\x00"]
    assert StringSliceFieldIndex("qux", lowercase=True).from_object(Obj()) == [b"test\x00", b"test2\x00"]
    assert ix.from_object(Obj(qux=["", "a", ""])) == [b"a\x00"]
    assert ix.from_object(Obj(qux=[])) is None
    assert ix.from_object(Obj(qux=[""])) is None
    assert ix.from_object({"qux": ("x",)}) == [b"x\x00"]
    assert ix.from_args("Test") == b"Test\x00"
    assert ix.prefix_from_args("Te") == b"Te"
    with pytest.raises(IndexerError, match=r"field 'foo' is not a string slice"):
        ix_foo = StringSliceFieldIndex("foo")
        ix_foo.from_object(Obj())
    with pytest.raises(IndexerError, match=r"field 'qux' is not a string slice"):
        ix.from_object(Obj(qux=[1]))  # type: ignore[list-item]
    with pytest.raises(IndexerError, match=r"argument must be a string"):
        ix.from_args(1)


def test_string_map_field() -> None:
    ix = StringMapFieldIndex("zod")
    assert ix.from_object(Obj()) == [b"Role\x00Server\x00", b"instance_type\x00m3.medium\x00"]  # "" key skipped
    assert StringMapFieldIndex("zod", lowercase=True).from_object(Obj()) == [
        b"instance_type\x00m3.medium\x00",
        b"role\x00server\x00",
    ]
    assert ix.from_object(Obj(zod={})) is None
    assert ix.from_args("Role", "Server") == b"Role\x00Server\x00"
    assert ix.from_args("Role") == b"Role\x00"  # go-memdb's documented quirk: matches no stored key exactly
    with pytest.raises(IndexerError, match=r"must provide one or two arguments"):
        ix.from_args()
    with pytest.raises(IndexerError, match=r"must provide one or two arguments"):
        ix.from_args("a", "b", "c")
    with pytest.raises(IndexerError, match=r"argument must be a string"):
        ix.from_args("a", 1)
    with pytest.raises(IndexerError, match=r"field 'foo' is not a map"):
        StringMapFieldIndex("foo").from_object(Obj())


# ------------------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("size", "value", "encoded"),
    [
        (8, 0, b"\x80\x00\x00\x00\x00\x00\x00\x00"),
        (8, 1, b"\x80\x00\x00\x00\x00\x00\x00\x01"),
        (8, -1, b"\x7f\xff\xff\xff\xff\xff\xff\xff"),
        (8, -(2**63), b"\x00" * 8),
        (8, 2**63 - 1, b"\xff" * 8),
        (4, -2, b"\x7f\xff\xff\xfe"),
        (2, 256, b"\x81\x00"),
        (1, -128, b"\x00"),
    ],
)
def test_int_encoding_is_big_endian_with_sign_bit_flipped(size: int, value: int, encoded: bytes) -> None:
    ix = IntFieldIndex("int_", size=size)
    assert ix.from_args(value) == encoded
    assert ix.from_object(Obj(int_=value)) == encoded


def test_int_byte_order_is_numeric_order() -> None:
    ix = IntFieldIndex("int_")
    values = [-(2**63), -(2**40), -300, -1, 0, 1, 255, 256, 2**40, 2**63 - 1]
    assert sorted(values, key=ix.from_args) == values


def test_int_errors() -> None:
    ix = IntFieldIndex("int_", size=1)
    with pytest.raises(IndexerError, match=r"does not fit an int of 1 bytes"):
        ix.from_args(128)
    with pytest.raises(IndexerError, match=r"arg is of type str; want an int"):
        ix.from_args("1")
    with pytest.raises(IndexerError, match=r"arg is of type bool; want an int"):
        ix.from_args(True)
    with pytest.raises(IndexerError, match=r"field 'foo' is of type str; want an int"):
        IntFieldIndex("foo").from_object(Obj())
    with pytest.raises(IndexerError, match=r"must provide only a single argument"):
        ix.from_args(1, 2)
    with pytest.raises(SchemaError, match=r"size must be 1, 2, 4 or 8 bytes; got 3"):
        IntFieldIndex("x", size=3)


def test_uint_encoding() -> None:
    assert UintFieldIndex("uint").from_object(Obj()) == b"\x00" * 7 + b"\x07"
    assert UintFieldIndex("uint", size=2).from_args(258) == b"\x01\x02"
    assert UintFieldIndex("uint", size=1).from_args(255) == b"\xff"
    with pytest.raises(IndexerError, match=r"does not fit a uint"):
        UintFieldIndex("uint").from_args(-1)
    with pytest.raises(IndexerError, match=r"want a uint"):
        UintFieldIndex("uint").from_args(1.5)


def test_int_none_is_missing() -> None:
    assert IntFieldIndex("v").from_object({"v": None}) is None


# ------------------------------------------------------------------------------------------------ bools, sets


def test_bool_field() -> None:
    ix = BoolFieldIndex("flag")
    assert ix.from_object(Obj(flag=True)) == b"\x01"
    assert ix.from_object(Obj(flag=False)) == b"\x00"
    assert ix.from_args(True) == b"\x01"
    with pytest.raises(IndexerError, match=r"argument must be a boolean type: 1"):
        ix.from_args(1)
    with pytest.raises(IndexerError, match=r"field 'foo' is of type str; want a bool"):
        BoolFieldIndex("foo").from_object(Obj())


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (None, b"\x00"),
        ("", b"\x00"),
        (0, b"\x00"),
        ([], b"\x00"),
        ("x", b"\x01"),
        (3, b"\x01"),
        (["a"], b"\x01"),
        (object(), b"\x01"),
    ],
)
def test_field_set_index(value: Any, encoded: bytes) -> None:
    assert FieldSetIndex("v").from_object({"v": value}) == encoded


def test_field_set_index_missing_field_is_an_error() -> None:
    with pytest.raises(IndexerError, match=r"field 'v' for .* is invalid"):
        FieldSetIndex("v").from_object({})


def test_conditional_index() -> None:
    ix = ConditionalIndex(lambda o: o.int_ < 0)
    assert ix.from_object(Obj(int_=-1)) == b"\x01"
    assert ix.from_object(Obj(int_=1)) == b"\x00"
    assert ix.from_args(False) == b"\x00"

    def broken(o: Any) -> bool:
        raise ValueError("boom")

    with pytest.raises(IndexerError, match=r"ConditionalIndexFunc\(.*\) failed: boom"):
        ConditionalIndex(broken).from_object(Obj())


# ------------------------------------------------------------------------------------------------ UUIDs


def test_uuid_field() -> None:
    ix = UUIDFieldIndex("uid")
    assert ix.from_object(Obj()) == UUID_BYTES
    assert ix.from_object(Obj(uid=uuid.UUID(UUID))) == UUID_BYTES
    assert ix.from_object(Obj(uid="")) is None
    assert ix.from_args(UUID) == UUID_BYTES
    assert ix.from_args(UUID_BYTES) == UUID_BYTES
    assert ix.from_args(uuid.UUID(UUID)) == UUID_BYTES
    assert ix.prefix_from_args("b4d5a6") == UUID_BYTES[:3]
    assert ix.prefix_from_args("b4d5a6e2-1f") == UUID_BYTES[:5]
    assert ix.prefix_from_args("") == b""


@pytest.mark.parametrize(
    ("call", "arg", "message"),
    [
        ("from_args", UUID[:-1], "UUID must be 36 characters"),
        ("from_args", UUID[:-2] + "zz", "Invalid UUID: "),
        ("from_args", b"short", "byte slice must be 16 characters"),
        ("from_args", 12, "argument must be a string or byte slice: 12"),
        ("prefix_from_args", "b4d5a", "Input \\(without hyphens\\) must be even length"),
        ("prefix_from_args", UUID + "00", "Invalid UUID length. UUID have 36 characters; got 38"),
        ("prefix_from_args", "a-b-c-d-e-f", 'UUID should have maximum of 4 "-"; got 5'),
        ("prefix_from_args", 1.0, "argument must be a string or byte slice"),
    ],
)
def test_uuid_errors(call: str, arg: Any, message: str) -> None:
    with pytest.raises(IndexerError, match=message):
        getattr(UUIDFieldIndex("uid"), call)(arg)


def test_uuid_field_bad_object() -> None:
    with pytest.raises(IndexerError, match=r"UUID must be 36 characters"):
        UUIDFieldIndex("foo").from_object(Obj())
    with pytest.raises(IndexerError, match=r"want a UUID string"):
        UUIDFieldIndex("int_").from_object(Obj())


# ------------------------------------------------------------------------------------------------ compounds


def test_compound_index() -> None:
    ix = CompoundIndex([StringFieldIndex("id"), StringFieldIndex("foo"), BoolFieldIndex("flag")])
    assert ix.from_object(Obj()) == b"my-cool-obj\x00Testing\x00\x01"
    assert ix.from_object(Obj(foo="")) is None
    assert ix.from_args("a", "b", False) == b"a\x00b\x00\x00"
    assert ix.prefix_from_args("a", "b") == b"a\x00b"
    assert ix.prefix_from_args("a") == b"a"
    assert ix.prefix_from_args() == b""
    with pytest.raises(IndexerError, match=r"non-equivalent argument count and index fields"):
        ix.from_args("a")
    with pytest.raises(IndexerError, match=r"more arguments than index fields"):
        ix.prefix_from_args("a", "b", True, 1)
    with pytest.raises(IndexerError, match=r"sub-index 2 does not support prefix scanning"):
        ix.prefix_from_args("a", "b", True)
    with pytest.raises(IndexerError, match=r"sub-index 1 error: argument must be a string: 1"):
        ix.from_args("a", 1, True)
    with pytest.raises(IndexerError, match=r"sub-index 0 error: field 'nope'"):
        CompoundIndex([StringFieldIndex("nope")]).from_object(Obj())


def test_compound_index_allow_missing_stops_at_first_missing() -> None:
    ix = CompoundIndex([StringFieldIndex("id"), StringFieldIndex("foo"), StringFieldIndex("id")], allow_missing=True)
    assert ix.from_object(Obj(foo="")) == b"my-cool-obj\x00"
    assert ix.from_object(Obj(id="")) == b""


def test_compound_index_schema_errors() -> None:
    with pytest.raises(SchemaError, match=r"sub-index 1 error: sub-index must be a SingleIndexer"):
        CompoundIndex([StringFieldIndex("id"), StringSliceFieldIndex("qux")])
    with pytest.raises(SchemaError, match=r"at least one sub-index"):
        CompoundIndex([])


def test_compound_multi_index_is_the_cartesian_product() -> None:
    ix = CompoundMultiIndex([StringFieldIndex("id"), StringSliceFieldIndex("qux"), StringMapFieldIndex("zod")])
    assert ix.from_object(Obj()) == [
        b"my-cool-obj\x00Test\x00Role\x00Server\x00",
        b"my-cool-obj\x00Test\x00instance_type\x00m3.medium\x00",
        b"my-cool-obj\x00Test2\x00Role\x00Server\x00",
        b"my-cool-obj\x00Test2\x00instance_type\x00m3.medium\x00",
    ]
    assert ix.from_object(Obj(qux=[])) is None
    assert ix.from_args("my-cool-obj", "Test", "Role", "Server") == b"my-cool-obj\x00Test\x00Role\x00Server\x00"
    assert ix.from_args("o", "t", "Role", None) == b"o\x00t\x00Role\x00"
    with pytest.raises(IndexerError, match=r"number of arguments does not equal number of indexers"):
        ix.from_args("a", "b")
    with pytest.raises(IndexerError, match=r"multi sub-index 1 error"):
        ix.from_object(Obj(qux=[1]))  # type: ignore[list-item]


def test_compound_multi_index_allow_missing() -> None:
    ix = CompoundMultiIndex(
        [StringFieldIndex("id"), StringSliceFieldIndex("qux"), StringFieldIndex("foo")], allow_missing=True
    )
    assert ix.from_object(Obj(foo="")) == [b"my-cool-obj\x00Test\x00", b"my-cool-obj\x00Test2\x00"]
    assert ix.from_object(Obj(id="")) == []  # nothing indexed, but not "missing"
    assert ix.from_args("my-cool-obj") == b"my-cool-obj\x00"
    with pytest.raises(IndexerError, match=r"too many arguments"):
        ix.from_args("a", "b", "c", "d")
    pair = CompoundMultiIndex([StringMapFieldIndex("zod")], allow_missing=True)
    with pytest.raises(IndexerError, match=r"invalid number of arguments"):
        pair.from_args("Role")


# ------------------------------------------------------------------------------------------------ functions


def test_single_func_index() -> None:
    def write(o: Any) -> bytes | None:
        if not o.foo:
            raise MissingIndexValue
        return IndexBuilder().string(o.foo.lower()).string(o.id).bytes()

    ix = SingleFuncIndex(
        write, lambda q: IndexBuilder().string(q[0]).string(q[1]).bytes(), lambda q: IndexBuilder().string(q).bytes()
    )
    assert ix.supports_prefix
    assert ix.from_object(Obj()) == b"testing\x00my-cool-obj\x00"
    assert ix.from_object(Obj(foo="")) is None
    assert ix.from_args(("a", "b")) == b"a\x00b\x00"
    assert ix.prefix_from_args("a") == b"a\x00"
    with pytest.raises(IndexerError, match=r"index supports only a single arg"):
        ix.from_args("a", "b")
    no_prefix = SingleFuncIndex(lambda o: None, lambda q: q)
    assert not no_prefix.supports_prefix
    assert no_prefix.from_object(Obj()) is None
    with pytest.raises(IndexerError, match=r"does not support prefix scanning"):
        no_prefix.prefix_from_args("x")


def test_multi_func_index() -> None:
    ix = MultiFuncIndex(lambda o: [t.encode() + b"\x00" for t in o.qux], lambda q: q.encode() + b"\x00")
    assert ix.from_object(Obj()) == [b"Test\x00", b"Test2\x00"]
    assert ix.from_object(Obj(qux=[])) is None
    assert ix.from_args("x") == b"x\x00"
    assert not ix.supports_prefix

    def missing(o: Any) -> list[bytes]:
        raise MissingIndexValue

    assert MultiFuncIndex(missing, lambda q: q).from_object(Obj()) is None


def test_index_builder_bool_and_raw() -> None:
    assert IndexBuilder().bool(True).raw(b"\xff").bool(False).bytes() == b"\x01\xff\x00"
