"""Schema validation: every mistake go-memdb rejects is rejected here, each with its own message."""

from __future__ import annotations

from typing import Any

import pytest

from raftstore.memdb import (
    DBSchema,
    IndexSchema,
    MemDB,
    SchemaError,
    StringFieldIndex,
    StringSliceFieldIndex,
    TableSchema,
)
from raftstore.radix import PyTree

pytestmark = pytest.mark.pure_python


def _id(**kw: Any) -> IndexSchema:
    return IndexSchema("id", kw.pop("indexer", StringFieldIndex("id")), unique=kw.pop("unique", True), **kw)


def _db(tables: dict[str, TableSchema]) -> DBSchema:
    return DBSchema(tables=tables)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (_db({}), "^schema has no tables defined$"),
        (_db({"a": TableSchema("b", {"id": _id()})}), r"^table name mis-match for 'a' \(schema says 'b'\)$"),
        (_db({"": TableSchema("", {"id": _id()})}), "^missing table name$"),
        (_db({"t": TableSchema("t", {})}), "^table 't': missing table indexes$"),
        (
            _db({"t": TableSchema("t", {"x": IndexSchema("x", StringFieldIndex("x"))})}),
            "^table 't': must have id index$",
        ),
        (_db({"t": TableSchema("t", {"id": _id(unique=False)})}), "^table 't': id index must be unique$"),
        (
            _db({"t": TableSchema("t", {"id": _id(indexer=StringSliceFieldIndex("id"))})}),
            "^table 't': id index must be a single indexer$",
        ),
        (
            _db({"t": TableSchema("t", {"id": _id(allow_missing=True)})}),
            "^table 't': id index must not allow missing values$",
        ),
        (
            _db({"t": TableSchema("t", {"id": _id(), "x": IndexSchema("y", StringFieldIndex("x"))})}),
            r"^table 't': index name mis-match for 'x' \(schema says 'y'\)$",
        ),
        (
            _db({"t": TableSchema("t", {"id": _id(), "": IndexSchema("", StringFieldIndex("x"))})}),
            "^table 't': index '': missing index name$",
        ),
        (
            _db({"t": TableSchema("t", {"id": _id(), "x": IndexSchema("x", object())})}),  # type: ignore[arg-type]
            "^table 't': index 'x': indexer for index 'x' must be a SingleIndexer or MultiIndexer$",
        ),
        (
            _db({"t": TableSchema("t", {"id": _id(), "a_prefix": IndexSchema("a_prefix", StringFieldIndex("a"))})}),
            "^table 't': index 'a_prefix': index name 'a_prefix' must not end in '_prefix'$",
        ),
        (
            _db({"t": {"id": _id()}}),  # type: ignore[dict-item]
            "^table 't' must be a TableSchema$",
        ),
        (
            _db({"t": TableSchema("t", {"id": "oops"})}),  # type: ignore[dict-item]
            "^table 't': index 'id' must be an IndexSchema$",
        ),
    ],
)
def test_schema_mistakes(schema: DBSchema, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        schema.validate()
    with pytest.raises(SchemaError, match=message):
        MemDB(schema, tree_factory=PyTree)


def test_valid_schema() -> None:
    schema = _db({"t": TableSchema("t", {"id": _id(), "x": IndexSchema("x", StringFieldIndex("x"))})})
    schema.validate()
    MemDB(schema, tree_factory=PyTree)
