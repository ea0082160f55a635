"""An in-memory database of indexed tables with MVCC transactions and watches, after hashicorp/go-memdb.

Tables hold Python objects (dataclasses, plain objects or mappings); each table has indexes built by *indexers*,
which turn an object (and a lookup's arguments) into byte keys encoded exactly as go-memdb encodes them. Every
index is a persistent radix tree (``raftstore.radix``), so a read transaction is a free snapshot, one writer at a
time builds the next version in place, and watches say when what a reader saw has changed::

    schema = DBSchema(tables={"services": TableSchema("services", indexes={
        "id": IndexSchema("id", StringFieldIndex("id"), unique=True),
        "node": IndexSchema("node", StringFieldIndex("node")),
        "tags": IndexSchema("tags", StringSliceFieldIndex("tags"), allow_missing=True),
    })})
    db = MemDB(schema)                       # MemDB(schema, tree_factory=PyTree): the pure-Python radix tree
    with db.txn(write=True) as txn:          # commits on success, aborts on an exception
        txn.insert("services", {"id": "web-1", "node": "n1", "tags": ["v1"]})
    txn = db.txn()
    watch, svc = txn.first_watch("services", "id", "web-1")
    list(txn.get("services", "node_prefix", "n"))   # "<index>_prefix": a prefix lookup
    ws = WatchSet(); ws.add(watch); timed_out = ws.wait(1.0)

Objects are stored as given, never copied: never mutate an object once inserted; insert a changed copy.
"""

from raftstore.memdb.changes import Change
from raftstore.memdb.db import MemDB
from raftstore.memdb.errors import IndexerError, MemDBError, NotFoundError, SchemaError, TxnError
from raftstore.memdb.indexers import (
    BoolFieldIndex,
    CompoundIndex,
    CompoundMultiIndex,
    ConditionalIndex,
    FieldSetIndex,
    IndexBuilder,
    Indexer,
    IntFieldIndex,
    MissingIndexValue,
    MultiFuncIndex,
    MultiIndexer,
    SingleFuncIndex,
    SingleIndexer,
    StringFieldIndex,
    StringMapFieldIndex,
    StringSliceFieldIndex,
    UintFieldIndex,
    UUIDFieldIndex,
)
from raftstore.memdb.schema import DBSchema, IndexSchema, TableSchema
from raftstore.memdb.txn import Txn
from raftstore.memdb.watchset import WatchSet

__all__ = [
    "BoolFieldIndex",
    "Change",
    "CompoundIndex",
    "CompoundMultiIndex",
    "ConditionalIndex",
    "DBSchema",
    "FieldSetIndex",
    "IndexBuilder",
    "IndexSchema",
    "Indexer",
    "IndexerError",
    "IntFieldIndex",
    "MemDB",
    "MemDBError",
    "MissingIndexValue",
    "MultiFuncIndex",
    "MultiIndexer",
    "NotFoundError",
    "SchemaError",
    "SingleFuncIndex",
    "SingleIndexer",
    "StringFieldIndex",
    "StringMapFieldIndex",
    "StringSliceFieldIndex",
    "TableSchema",
    "Txn",
    "TxnError",
    "UUIDFieldIndex",
    "UintFieldIndex",
    "WatchSet",
]
