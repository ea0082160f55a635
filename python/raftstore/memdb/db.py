"""MemDB: the database object, holding the schema, the current root and the writer lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from raftstore.memdb import keyenc
from raftstore.memdb.plan import TablePlan
from raftstore.memdb.schema import DBSchema
from raftstore.memdb.txn import Root, Txn
from raftstore.radix import Tree


class MemDB:
    """An in-memory database of indexed tables with MVCC transactions (after hashicorp/go-memdb).

    ``tree_factory`` makes the empty radix tree of each index: the C ``raftstore.radix.Tree`` by default, or the
    pure-Python ``PyTree`` (same behaviour, slower). ``accelerated`` picks the C key encoder of the write path
    (default: with the C tree only). ``txn(write=False)`` starts a lock-free read transaction over
    the current snapshot; ``txn(write=True)`` a write transaction, which waits for the previous writer to finish
    (one writer at a time; a thread that opens a second write txn while holding one deadlocks, as in go-memdb).
    """

    def __init__(
        self, schema: DBSchema, tree_factory: Callable[[], Any] = Tree, accelerated: bool | None = None
    ) -> None:
        schema.validate()
        self.schema = schema
        self.tree_factory = tree_factory
        # The write path's key encoder: the C one (_keyenc) with the C tree, the pure-Python reference with PyTree,
        # unless told otherwise; both give the same keys (tests/memdb/test_memdb_keyenc.py).
        if accelerated is None:
            accelerated = tree_factory is Tree
        encoder: Any = keyenc
        if accelerated:
            from raftstore.memdb import _keyenc

            encoder = _keyenc
        self._object_keys = encoder.object_keys
        self._insert_keys = encoder.insert_keys
        self._plans = {name: TablePlan(table) for name, table in schema.tables.items()}
        # One tree per index (not one shared empty tree): a watch on one index must not fire for writes to another.
        self._root: Root = {ip.key: tree_factory() for plan in self._plans.values() for ip in plan.indexes}
        self._writer = threading.Lock()
        self._primary = True

    def txn(self, write: bool = False) -> Txn:
        """A new transaction; see the class docstring. A write txn must end with ``commit()`` or ``abort()`` (or
        be used as a context manager), or the writer lock stays taken."""
        if write:
            self._writer.acquire()
        return Txn(self, write, self._root)

    def snapshot(self) -> MemDB:
        """An O(1) copy of the current state: an independent database (with its own writer) whose writes never
        fire the watches handed out by this one."""
        clone = MemDB.__new__(MemDB)
        clone.schema = self.schema
        clone.tree_factory = self.tree_factory
        clone._plans = self._plans
        clone._object_keys = self._object_keys
        clone._insert_keys = self._insert_keys
        clone._root = self._root
        clone._writer = threading.Lock()
        clone._primary = False
        return clone
