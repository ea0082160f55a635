"""The database schema: tables, their indexes, and go-memdb's validation rules.

Validation is what makes the write path simple and safe: every table has an ``id`` index that is unique and
single-valued, so every object has exactly one primary key, which is also what a non-unique index appends to its
keys to keep them distinct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from raftstore.memdb.errors import SchemaError
from raftstore.memdb.indexers import Indexer, MultiIndexer, SingleIndexer

ID_INDEX = "id"
PREFIX_SUFFIX = "_prefix"


@dataclass
class IndexSchema:
    """One index of a table: its indexer, whether keys are unique, whether objects may lack a value."""

    name: str
    indexer: Indexer
    unique: bool = False
    allow_missing: bool = False

    def validate(self) -> None:
        if not self.name:
            raise SchemaError("missing index name")
        if self.name.endswith(PREFIX_SUFFIX):
            # A name ending in "_prefix" could never be looked up exactly: "<x>_prefix" means "prefix lookup on x".
            raise SchemaError(f"index name '{self.name}' must not end in '{PREFIX_SUFFIX}'")
        if not isinstance(self.indexer, (SingleIndexer, MultiIndexer)):
            raise SchemaError(f"indexer for index '{self.name}' must be a SingleIndexer or MultiIndexer")


@dataclass
class TableSchema:
    """A table: a name and its indexes, keyed by index name."""

    name: str
    indexes: Mapping[str, IndexSchema] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.name:
            raise SchemaError("missing table name")
        if not self.indexes:
            raise SchemaError(f"table '{self.name}': missing table indexes")
        for name, index in self.indexes.items():
            if not isinstance(index, IndexSchema):
                raise SchemaError(f"table '{self.name}': index '{name}' must be an IndexSchema")
        if ID_INDEX not in self.indexes:
            raise SchemaError(f"table '{self.name}': must have id index")
        id_index = self.indexes[ID_INDEX]
        if not id_index.unique:
            raise SchemaError(f"table '{self.name}': id index must be unique")
        if not isinstance(id_index.indexer, SingleIndexer):
            raise SchemaError(f"table '{self.name}': id index must be a single indexer")
        if id_index.allow_missing:
            raise SchemaError(f"table '{self.name}': id index must not allow missing values")
        for name, index in self.indexes.items():
            if name != index.name:
                raise SchemaError(
                    f"table '{self.name}': index name mis-match for '{name}' (schema says '{index.name}')"
                )
            try:
                index.validate()
            except SchemaError as exc:
                raise SchemaError(f"table '{self.name}': index '{name}': {exc}") from None


@dataclass
class DBSchema:
    """The whole database: tables keyed by table name."""

    tables: Mapping[str, TableSchema] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.tables:
            raise SchemaError("schema has no tables defined")
        for name, table in self.tables.items():
            if not isinstance(table, TableSchema):
                raise SchemaError(f"table '{name}' must be a TableSchema")
            if name != table.name:
                raise SchemaError(f"table name mis-match for '{name}' (schema says '{table.name}')")
            table.validate()
