"""Per-table write plans: each index's key function specialised once, at MemDB construction.

The write path runs these for every index of every inserted object, so the decisions that depend only on the
schema (single or multi valued, unique or suffixed with the primary key) are taken here, not per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftstore.memdb import keyenc
from raftstore.memdb.indexers import Indexer, StringFieldIndex, StringSliceFieldIndex
from raftstore.memdb.schema import ID_INDEX, IndexSchema, TableSchema

# keys(obj, primary_key) -> the index keys of obj (non-unique ones end with the primary key), or None: no value.
KeysFn = Callable[[Any, bytes], "list[bytes] | None"]


def _keys_fn(indexer: Indexer, unique: bool) -> KeysFn:
    from_object = indexer.from_object
    if indexer.multi:
        if unique:

            def multi_unique(obj: Any, pk: bytes) -> list[bytes] | None:
                values: list[bytes] | None = from_object(obj)
                return values

            return multi_unique

        def multi(obj: Any, pk: bytes) -> list[bytes] | None:
            values: list[bytes] | None = from_object(obj)
            return None if values is None else [v + pk for v in values]

        return multi
    if unique:

        def single_unique(obj: Any, pk: bytes) -> list[bytes] | None:
            value: bytes | None = from_object(obj)
            return None if value is None else [value]

        return single_unique

    def single(obj: Any, pk: bytes) -> list[bytes] | None:
        value: bytes | None = from_object(obj)
        return None if value is None else [value + pk]

    return single


class IndexPlan:
    """One index of a table as the transactions use it."""

    __slots__ = ("allow_missing", "indexer", "key", "keys", "name", "unique")

    def __init__(self, table: str, schema: IndexSchema) -> None:
        self.name = schema.name
        self.key = (table, schema.name)  # the index tree's key in the database root
        self.indexer = schema.indexer
        self.unique = schema.unique
        self.allow_missing = schema.allow_missing
        self.keys = _keys_fn(schema.indexer, schema.unique)


class TablePlan:
    """A table's indexes, the primary (``id``) one first."""

    __slots__ = ("allow_missing", "by_name", "id_from_object", "indexes", "name", "specs")

    def __init__(self, schema: TableSchema) -> None:
        self.name = schema.name
        ordered = [schema.indexes[ID_INDEX]] + [ix for name, ix in schema.indexes.items() if name != ID_INDEX]
        self.indexes = tuple(IndexPlan(schema.name, ix) for ix in ordered)
        self.by_name = {ip.name: ip for ip in self.indexes}
        self.id_from_object: Callable[[Any], bytes | None] = schema.indexes[ID_INDEX].indexer.from_object
        # Every index (id first) as a keyenc spec, and whether each may lack a value.
        self.specs: tuple[keyenc.Spec, ...] = tuple(_spec(ip) for ip in self.indexes)
        self.allow_missing = tuple(ip.allow_missing for ip in self.indexes)


def _spec(ip: IndexPlan) -> keyenc.Spec:
    indexer = ip.indexer
    # Exact types only: a subclass may override from_object, and then only the reference knows its keys.
    if type(indexer) is StringFieldIndex:
        return (keyenc.STRING, indexer.field, indexer.lowercase, ip.unique, ip.keys)
    if type(indexer) is StringSliceFieldIndex:
        return (keyenc.STRING_SLICE, indexer.field, indexer.lowercase, ip.unique, ip.keys)
    return (keyenc.GENERIC, "", False, ip.unique, ip.keys)
