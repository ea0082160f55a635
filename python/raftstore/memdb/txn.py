"""Transactions over a MemDB: lock-free snapshot reads, one exclusive writer, watches, change tracking.

Storage model (go-memdb's): every (table, index) pair is one radix tree mapping index keys to the stored objects;
the database root maps (table, index) to those trees. Unique index keys are the indexer's value; non-unique ones
append the object's primary key, which keeps every key distinct and orders equal values by primary key.

A read transaction holds the root it started from: radix trees never change, so it needs no lock and sees one
consistent snapshot however long it lives. A write transaction opens a radix transaction per index it touches
(writes go in place into nodes that transaction owns), and on commit:

1. takes each modified index's new tree (``snapshot()``, which fires nothing),
2. publishes the new root (one reference assignment, atomic under the GIL),
3. only then commits the radix transactions, which fires the watches of every replaced node,

so a reader woken by a watch always finds the data the watch signalled. Then it releases the writer lock and runs
the deferred callbacks, last registered first. A snapshot database (``MemDB.snapshot()``) never fires watches: its
trees share nodes with the primary's, whose watchers must not wake for writes they can never see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from raftstore.memdb.changes import Change, collapse
from raftstore.memdb.errors import IndexerError, MemDBError, NotFoundError, TxnError
from raftstore.memdb.plan import IndexPlan, TablePlan
from raftstore.memdb.schema import PREFIX_SUFFIX
from raftstore.radix.watch import Watch

if TYPE_CHECKING:
    from raftstore.memdb.db import MemDB

IndexKey = tuple[str, str]
Root = dict[IndexKey, Any]  # (table, index) -> radix tree (Tree or PyTree); never mutated once published

_second = itemgetter(1)
_PREFIX_LEN = len(PREFIX_SUFFIX)


class Txn:
    """A read or write transaction; see the module docstring. Use ``with db.txn(write=True) as txn:`` to commit on
    success and abort on an exception.

    Objects are stored as given, never copied: an object must not be mutated once inserted (insert a modified
    copy instead), or the indexes would no longer describe it.
    """

    __slots__ = ("_after", "_changes", "_closed", "_db", "_modified", "_plans", "_root", "_snaps", "_tables", "write")

    def __init__(self, db: MemDB, write: bool, root: Root) -> None:
        self._db = db
        self.write = write
        self._root = root
        self._plans: dict[str, TablePlan] = db._plans
        self._modified: dict[IndexKey, Any] = {}  # (table, index) -> radix txn, write txns only
        self._tables: dict[str, list[Any]] = {}  # table -> radix txns of all its indexes, in plan order
        self._snaps: dict[IndexKey, Any] = {}  # readable trees of modified indexes, until the next write
        self._changes: list[Change] | None = None
        self._after: list[Callable[[], object]] = []
        self._closed = False

    # ------------------------------------------------------------------------------------------ plumbing

    def _plan(self, table: str) -> TablePlan:
        plan = self._plans.get(table)
        if plan is None:
            raise MemDBError(f"invalid table '{table}'")
        return plan

    def _check_write(self) -> None:
        if self._closed:
            raise TxnError("transaction is closed (committed or aborted)")
        if not self.write:
            raise TxnError("cannot write in read-only transaction")

    def _table_txns(self, plan: TablePlan) -> list[Any]:
        """The radix txns of every index of the table (opened on first use, kept until commit)."""
        txns = self._tables.get(plan.name)
        if txns is None:
            txns = []
            for ip in plan.indexes:
                txn = self._modified.get(ip.key)
                if txn is None:
                    txn = self._modified[ip.key] = self._root[ip.key].txn()
                txns.append(txn)
            self._tables[plan.name] = txns
        if self._snaps:  # every caller is about to write: readable copies taken so far go stale
            self._snaps.clear()
        return txns

    def _readable(self, key: IndexKey) -> Any:
        """The tree to read an index from: the committed one, or (in a write txn that changed it) an O(1) snapshot
        of the changes so far; an iterator over it is unaffected by later writes, as in go-memdb."""
        if self._closed:
            raise TxnError("transaction is closed (committed or aborted)")
        txn = self._modified.get(key) if self._modified else None
        if txn is None:
            return self._root[key]
        tree = self._snaps.get(key)
        if tree is None:
            tree = self._snaps[key] = txn.snapshot()
        return tree

    def _lookup(self, table: str, index: str, args: tuple[Any, ...]) -> tuple[IndexPlan, bytes | None, bool]:
        """(index, key or key prefix, whether exact) for a read: go-memdb's getIndexValue with the ``_prefix``
        convention. The key is None when there are no arguments (the whole index)."""
        plan = self._plan(table)
        name = index
        prefix = index.endswith(PREFIX_SUFFIX)
        if prefix:
            name = index[:-_PREFIX_LEN]
        ip = plan.by_name.get(name)
        if ip is None:
            raise MemDBError(f"invalid index '{name}'")
        if not args:
            return ip, None, False
        try:
            if prefix:
                if not ip.indexer.supports_prefix:
                    raise MemDBError(f"index '{name}' does not support prefix scanning")
                return ip, ip.indexer.prefix_from_args(*args), False
            return ip, ip.indexer.from_args(*args), True
        except IndexerError as exc:
            raise IndexerError(f"index error: {exc}") from exc

    # ------------------------------------------------------------------------------------------ writes

    def insert(self, table: str, obj: Any) -> None:
        """Insert ``obj``, or replace the object with the same primary key; every index is updated.

        All index keys are computed before anything changes, so a missing value or an indexer error leaves the
        transaction as it was."""
        if self._closed or not self.write:
            self._check_write()
        plan = self._plans.get(table)
        if plan is None:
            raise MemDBError(f"invalid table '{table}'")
        keys = self._db._object_keys(plan.specs, obj)
        if None in keys:
            if keys[0] is None:
                raise MemDBError("object missing primary index")
            for index_keys, allowed, ip in zip(keys, plan.allow_missing, plan.indexes, strict=True):
                if index_keys is None and not allowed:
                    raise MemDBError(f"missing value for index '{ip.name}'")
        txns = self._tables.get(table)
        if txns is None or self._snaps:
            txns = self._table_txns(plan)
        existing = self._db._insert_keys(txns, keys, obj)
        if existing is not None:  # an update: the id index is done, move the other indexes' entries
            pk = keys[0][0]  # keys[0] is not None: checked above
            for ip, new, txn in zip(plan.indexes[1:], keys[1:], txns[1:], strict=True):
                old = ip.keys(existing, pk)
                if old:
                    for k in old:
                        if new is None or k not in new:
                            txn.delete(k)
                if new:
                    for k in new:
                        txn.insert(k, obj)
        if self._changes is not None:
            self._changes.append(Change(table, existing, obj, keys[0][0]))

    def index_txns(self, table: str) -> list[Any]:
        """The radix write transactions of every index of ``table``, in the schema's index order (``id`` first).

        For a caller that maintains a table's indexes itself on a hot path (the FSM's run of KV sets, see
        raftstore.fsm.kvset), and so takes over the invariant ``insert`` keeps: when the transaction commits, every
        index of the table describes exactly the same objects. Refused while changes are tracked (writes made this
        way would be missing from them). Readable copies taken so far are dropped, as before any write."""
        self._check_write()
        if self._changes is not None:
            raise TxnError("index_txns() cannot be used while changes are tracked")
        return self._table_txns(self._plan(table))

    def delete(self, table: str, obj: Any) -> None:
        """Delete the stored object with ``obj``'s primary key (NotFoundError if there is none); its keys are
        computed from the stored object, so ``obj`` only needs the primary key right."""
        self._check_write()
        plan = self._plan(table)
        pk = plan.id_from_object(obj)
        if pk is None:
            raise MemDBError("object missing primary index")
        txns = self._table_txns(plan)
        existing = txns[0].get(pk)
        if existing is None:
            raise NotFoundError()
        self._remove(plan, txns, pk, existing, skip=None)

    def _remove(self, plan: TablePlan, txns: list[Any], pk: bytes, existing: Any, skip: IndexPlan | None) -> None:
        for ip, txn in zip(plan.indexes, txns, strict=True):
            if ip is skip:
                continue
            keys = ip.keys(existing, pk)
            if keys:
                for k in keys:
                    txn.delete(k)
        if self._changes is not None:
            self._changes.append(Change(plan.name, existing, None, pk))

    def delete_all(self, table: str, index: str, *args: Any) -> int:
        """Delete every object ``get(table, index, *args)`` yields; returns how many."""
        self._check_write()
        objs = list(self.get(table, index, *args))
        for obj in objs:
            self.delete(table, obj)
        return len(objs)

    def delete_prefix(self, table: str, prefix_index: str, prefix: Any) -> bool:
        """Delete every object whose ``<index>`` key starts with ``prefix`` (``prefix_index`` is ``"<index>_prefix"``):
        each is removed from the other indexes one by one, then the whole subtree of the prefix index is dropped in
        one radix ``delete_prefix`` (cheap when the prefix index holds many more entries than the others: KV
        delete-tree). Returns whether anything was deleted."""
        self._check_write()
        if not prefix_index.endswith(PREFIX_SUFFIX):
            raise MemDBError(f"Index name for DeletePrefix must be a prefix index, Got {prefix_index}")
        ip, key, _ = self._lookup(table, prefix_index, (prefix,))
        assert key is not None  # one argument was given
        entries = list(self._readable(ip.key).values(key))
        if not entries:
            return False
        plan = self._plans[table]
        txns = self._table_txns(plan)
        prefix_txn = txns[plan.indexes.index(ip)]
        for obj in entries:
            pk = plan.id_from_object(obj)
            if pk is None:
                raise MemDBError("object missing primary index")
            self._remove(plan, txns, pk, obj, skip=ip)
            # A multi-valued prefix index may hold other keys of the object outside the prefix: go-memdb leaves
            # those behind (pointing at a deleted object); they are removed here.
            if ip.indexer.multi:
                for k in ip.keys(obj, pk) or ():
                    if not k.startswith(key):
                        prefix_txn.delete(k)
        prefix_txn.delete_prefix(key)
        return True

    # ------------------------------------------------------------------------------------------ reads

    def first(self, table: str, index: str, *args: Any) -> Any:
        """The first object (in index order) matching the arguments, or None."""
        ip, key, exact = self._lookup(table, index, args)
        if exact and ip.unique:
            if self._modified:  # a write txn reads its own changes straight from the radix txn
                txn = self._modified.get(ip.key)
                if txn is not None:
                    if self._closed:
                        raise TxnError("transaction is closed (committed or aborted)")
                    return txn.get(key)
            return self._readable(ip.key).get(key)
        return next(self._readable(ip.key).values(key or b""), None)

    def last(self, table: str, index: str, *args: Any) -> Any:
        """The last object (in index order) matching the arguments, or None."""
        ip, key, exact = self._lookup(table, index, args)
        tree = self._readable(ip.key)
        if exact and ip.unique:
            return tree.get(key)
        return next(tree.values(key or b"", reverse=True), None)

    def first_watch(self, table: str, index: str, *args: Any) -> tuple[Watch, Any]:
        """``(watch, first(...))``: the watch fires when a later commit may have changed this result."""
        ip, key, exact = self._lookup(table, index, args)
        tree = self._readable(ip.key)
        if exact and ip.unique:
            return tree.watch(key), tree.get(key)
        key = key or b""
        return tree.watch_prefix(key), next(tree.values(key), None)

    def last_watch(self, table: str, index: str, *args: Any) -> tuple[Watch, Any]:
        """``(watch, last(...))``."""
        ip, key, exact = self._lookup(table, index, args)
        tree = self._readable(ip.key)
        if exact and ip.unique:
            return tree.watch(key), tree.get(key)
        key = key or b""
        return tree.watch_prefix(key), next(tree.values(key, reverse=True), None)

    def get(self, table: str, index: str, *args: Any) -> Iterator[Any]:
        """Every object matching the arguments, in index order (no arguments: the whole index). The iterator reads
        the index as it was when ``get`` was called, even in a write txn that goes on writing."""
        ip, key, _ = self._lookup(table, index, args)
        values: Iterator[Any] = self._readable(ip.key).values(key or b"")
        return values

    def get_reverse(self, table: str, index: str, *args: Any) -> Iterator[Any]:
        """``get`` in descending index order."""
        ip, key, _ = self._lookup(table, index, args)
        values: Iterator[Any] = self._readable(ip.key).values(key or b"", reverse=True)
        return values

    def get_watch(self, table: str, index: str, *args: Any) -> tuple[Watch, Iterator[Any]]:
        """``(watch, get(...))``: the watch covers everything under the looked-up key or prefix."""
        ip, key, _ = self._lookup(table, index, args)
        tree = self._readable(ip.key)
        key = key or b""
        return tree.watch_prefix(key), tree.values(key)

    def get_reverse_watch(self, table: str, index: str, *args: Any) -> tuple[Watch, Iterator[Any]]:
        """``(watch, get_reverse(...))``."""
        ip, key, _ = self._lookup(table, index, args)
        tree = self._readable(ip.key)
        key = key or b""
        return tree.watch_prefix(key), tree.values(key, reverse=True)

    def lower_bound(self, table: str, index: str, *args: Any) -> Iterator[Any]:
        """Objects whose index key is >= the arguments' key, ascending: a range scan (stop when past the range).
        No watch is offered (as in go-memdb: a lower bound has no subtree to watch)."""
        ip, key, _ = self._lookup(table, index, args)
        return map(_second, self._readable(ip.key).seek_lower_bound(key or b""))

    def reverse_lower_bound(self, table: str, index: str, *args: Any) -> Iterator[Any]:
        """Objects whose index key is <= the arguments' key, descending."""
        ip, key, _ = self._lookup(table, index, args)
        return map(_second, self._readable(ip.key).seek_reverse_lower_bound(key or b""))

    def longest_prefix(self, table: str, index: str, *args: Any) -> Any:
        """The object whose key is the longest prefix of the arguments' key, on a unique ``<index>_prefix``. Not
        useful with NUL-terminated string keys (as go-memdb warns); meant for custom indexers."""
        if not index.endswith(PREFIX_SUFFIX):
            raise MemDBError(f"must use '{index}_prefix' on index")
        ip, key, _ = self._lookup(table, index, args)
        if not ip.unique:
            raise MemDBError(f"index '{index}' is not unique")
        found = self._readable(ip.key).longest_prefix(key or b"")
        return None if found is None else found[1]

    # ------------------------------------------------------------------------------------------ lifecycle

    def track_changes(self) -> None:
        """Record every mutation from now on (see ``changes``); cannot be switched off."""
        if self._changes is None:
            self._changes = []

    def changes(self) -> list[Change] | None:
        """The net change of each object so far, in mutation order (see ``changes.collapse``); None when tracking
        is off, and after abort."""
        if self._changes is None:
            return None
        self._changes = collapse(self._changes)
        return list(self._changes)

    def defer(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` after a successful commit (after the writer lock is released), last registered first."""
        self._after.append(fn)

    def snapshot(self) -> Txn:
        """A read transaction over this transaction's current state, uncommitted writes included, in O(1)."""
        if self._closed:
            raise TxnError("transaction is closed (committed or aborted)")
        root = self._root
        if self._modified:
            root = dict(root)
            for key in self._modified:
                root[key] = self._readable(key)
        return Txn(self._db, False, root)

    def commit(self) -> None:
        """Publish the changes, fire the watches, release the writer, run the deferred callbacks. A no-op on a read
        transaction and on a finished one."""
        if not self.write or self._closed:
            return
        self._closed = True
        db = self._db
        try:
            modified = self._modified
            if modified:
                root = dict(self._root)
                for key, txn in modified.items():
                    root[key] = txn.snapshot()
                db._root = root  # the new state is visible from here on
                if db._primary:
                    for txn in modified.values():
                        txn.commit()  # fires the watches of what changed, now that it is visible
        finally:
            self._modified = {}
            self._tables = {}
            self._snaps = {}
            db._writer.release()
        after, self._after = self._after, []
        for fn in reversed(after):
            fn()

    def abort(self) -> None:
        """Drop the changes and release the writer. A no-op on a read transaction and on a finished one."""
        if not self.write or self._closed:
            return
        self._closed = True
        self._modified = {}
        self._tables = {}
        self._snaps = {}
        self._changes = None
        self._after = []
        self._db._writer.release()

    def __enter__(self) -> Txn:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
