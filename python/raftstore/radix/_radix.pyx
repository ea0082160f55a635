# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True
"""The C radix tree (csrc/radix.c) as Python objects: Tree, Txn and their iterators.

The nodes are C structs: Python's garbage collector never sees one object per node, only these handles. Values are
Python objects kept alive by the nodes holding them (Py_INCREF / Py_DECREF through rx_ops). Every C call here runs
with the GIL held: the tree's reference counts, the node allocator's process-wide free lists (csrc/radix.c) and the
value callbacks rely on it. Never release the GIL around a call into radix.c.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_WriteUnraisable
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memset

from raftstore.radix.watch import Watch

cdef extern from "Python.h":
    ctypedef int (*visitproc)(PyObject *, void *)
    ctypedef int (*inquiry)(PyObject *)
    ctypedef int (*traverseproc)(PyObject *, visitproc, void *)
    ctypedef struct PyTypeObject:
        traverseproc tp_traverse
        inquiry tp_clear

cdef extern from "bloom.h":
    ctypedef struct rx_bloom:
        pass
    rx_bloom *rx_bloom_new(size_t capacity)
    void rx_bloom_incref(rx_bloom *b)
    void rx_bloom_decref(rx_bloom *b)
    void rx_bloom_add(rx_bloom *b, const uint8_t *key, size_t len)
    int rx_bloom_may_contain(const rx_bloom *b, const uint8_t *key, size_t len)
    int rx_bloom_full(const rx_bloom *b)
    size_t rx_bloom_capacity(const rx_bloom *b)
    size_t rx_bloom_added(const rx_bloom *b)
    size_t rx_bloom_bytes(const rx_bloom *b)

cdef extern from "radix.h":
    ctypedef struct rx_node:
        pass
    ctypedef struct rx_ops:
        void (*retain)(void *obj)
        void (*release)(void *obj)
        void *(*new_watch)(void *ctx)
        void (*fire)(void *watch)
        void *ctx
    ctypedef struct rx_txn:
        rx_node *root
        size_t size
    ctypedef struct rx_iter:
        rx_node *root
    ctypedef int (*rx_path_fn)(void *arg, size_t key_len, void *value)

    int RX_OK
    int RX_ENOMEM

    rx_node *rx_root_new()
    void rx_node_incref(rx_node *n)
    void rx_node_decref(const rx_ops *ops, rx_node *n)
    int rx_get(const rx_node *root, const uint8_t *key, size_t len, void **value_out)
    int rx_longest_prefix(const rx_node *root, const uint8_t *key, size_t len, size_t *key_len_out,
                          void **value_out)
    void *rx_watch_key(const rx_ops *ops, rx_node *root, const uint8_t *key, size_t len)
    void *rx_watch_prefix(const rx_ops *ops, rx_node *root, const uint8_t *prefix, size_t len)
    void rx_stats(const rx_node *root, size_t *nodes_out, size_t *bytes_out)
    int rx_visit_owned(const rx_node *root, uint32_t root_refs, int (*fn)(void *value, void *arg), void *arg)

    void rx_txn_init(rx_txn *txn, const rx_ops *ops, rx_node *root, size_t size)
    void rx_txn_clear(rx_txn *txn)
    int rx_txn_insert(rx_txn *txn, const uint8_t *key, size_t len, void *value, void **old_out)
    int rx_txn_delete(rx_txn *txn, const uint8_t *key, size_t len, void **old_out)
    int rx_txn_delete_prefix(rx_txn *txn, const uint8_t *prefix, size_t len, size_t *count_out)
    rx_node *rx_txn_snapshot(rx_txn *txn)
    rx_node *rx_txn_commit(rx_txn *txn)

    int rx_iter_seek_prefix(rx_iter *it, rx_node *root, const uint8_t *prefix, size_t len, int reverse)
    int rx_iter_seek_lower_bound(rx_iter *it, rx_node *root, const uint8_t *key, size_t len)
    int rx_iter_seek_reverse_lower_bound(rx_iter *it, rx_node *root, const uint8_t *key, size_t len)
    int rx_iter_next(rx_iter *it, const uint8_t **key_out, size_t *len_out, void **value_out)
    void rx_iter_clear(const rx_ops *ops, rx_iter *it)
    int rx_walk_path(const rx_node *root, const uint8_t *key, size_t len, rx_path_fn fn, void *arg)
    void rx_prefetch_paths(rx_node **roots, const uint8_t **keys, const size_t *lens, size_t n)
    void rx_node_cache_trim()
    size_t rx_node_cache_bytes()
    size_t rx_node_cache_set_limit(size_t limit)


# ---- callbacks the C tree uses for values and watches (always called with the GIL held) ---------------------------

cdef void _retain(void *obj) noexcept:
    Py_INCREF(<object>obj)

cdef void _release(void *obj) noexcept:
    Py_DECREF(<object>obj)

cdef void *_new_watch(void *ctx) noexcept:
    try:
        watch = Watch()
    except BaseException:
        PyErr_WriteUnraisable(None)
        return NULL
    Py_INCREF(watch)
    return <void *>watch

cdef void _fire(void *watch) noexcept:
    try:
        (<object>watch)._fire()
    except BaseException:
        PyErr_WriteUnraisable(<object>watch)

cdef rx_ops OPS
OPS.retain = _retain
OPS.release = _release
OPS.new_watch = _new_watch
OPS.fire = _fire
OPS.ctx = NULL


# ---- keys --------------------------------------------------------------------------------------------------------

cdef inline int _key_of(object key, const uint8_t **ptr, size_t *length, Py_buffer *view) except -1:
    """Points ptr/length at key's bytes. Returns 1 when a buffer view was taken (release it), else 0."""
    if type(key) is bytes:
        ptr[0] = <const uint8_t *>PyBytes_AS_STRING(key)
        length[0] = <size_t>PyBytes_GET_SIZE(key)
        return 0
    if isinstance(key, str):
        raise TypeError("radix keys are bytes-like, not str (encode it first)")
    try:
        PyObject_GetBuffer(key, view, PyBUF_SIMPLE)
    except BufferError:
        raise
    except Exception:
        raise TypeError(f"radix keys are bytes-like objects, not {type(key).__name__}") from None
    ptr[0] = <const uint8_t *>view.buf
    length[0] = <size_t>view.len
    return 1


# ---- the key filter -----------------------------------------------------------------------------------------------
# Trees of at least FILTER_MIN_KEYS keys carry a Bloom filter (csrc/bloom.h) that answers most lookups of absent keys
# without walking the tree. Invariant, kept by Txn.insert: a tree's filter holds every key the tree holds (it is
# shared by a family of versions and only gains keys, so it may hold more; never fewer), or the tree has none.
#
# Who pays for it: readers. A filter is built (from all of a tree's keys, O(n)) by the first point lookup on a tree or
# txn of at least FILTER_MIN_KEYS keys that has none; writes only add their new keys to a filter that exists. When a
# filter is full (its false-positive rate is rising), the next new key drops it instead of rebuilding it, and the next
# lookup builds a bigger one. A bulk load that nobody reads while it runs builds no filter at all (building them at
# each doubling of the tree cost a batched memdb insert ~10%), and a read-mostly tree rebuilds exactly as often as
# before: once per doubling.

cdef size_t FILTER_MIN_KEYS = 4096


def _set_filter_min_keys(size_t n):
    """Tests: the tree size from which a filter is built (returns the previous one)."""
    global FILTER_MIN_KEYS
    previous = FILTER_MIN_KEYS
    FILTER_MIN_KEYS = n
    return previous


cdef rx_bloom *_filter_of(rx_node *root, size_t size) except NULL:
    """A new filter holding every key under root, sized for twice as many keys."""
    cdef size_t capacity = 2 * size if 2 * size > FILTER_MIN_KEYS else FILTER_MIN_KEYS
    cdef rx_bloom *bloom = rx_bloom_new(capacity)
    cdef rx_iter it
    cdef const uint8_t *key
    cdef size_t length
    cdef void *value
    cdef int rc
    if bloom == NULL:
        raise MemoryError()
    memset(&it, 0, sizeof(rx_iter))
    rc = rx_iter_seek_prefix(&it, root, <const uint8_t *>b"", 0, 0)
    while rc == RX_OK:
        rc = rx_iter_next(&it, &key, &length, &value)
        if rc != 1:
            break
        rx_bloom_add(bloom, key, length)
        rc = RX_OK
    rx_iter_clear(&OPS, &it)
    if rc != 0:
        rx_bloom_decref(bloom)
        raise MemoryError()
    return bloom


cdef inline int _lookup(const rx_node *root, const rx_bloom *bloom, object key, void **value) except -1:
    """1 and *value set when key is stored under root, else 0: the point lookup of Tree and Txn."""
    cdef const uint8_t *ptr
    cdef size_t length
    cdef Py_buffer view
    cdef int viewed = 0, found
    if type(key) is bytes:  # the hot path: no buffer protocol round trip
        ptr = <const uint8_t *>PyBytes_AS_STRING(key)
        length = <size_t>PyBytes_GET_SIZE(key)
    else:
        viewed = _key_of(key, &ptr, &length, &view)
    if bloom != NULL and not rx_bloom_may_contain(bloom, ptr, length):
        found = 0
    else:
        found = rx_get(root, ptr, length, value)
    if viewed:
        PyBuffer_Release(&view)
    return found


cdef inline object _pair(const uint8_t *key, size_t length, void *value):
    return (PyBytes_FromStringAndSize(<const char *>key, <Py_ssize_t>length), <object>value)


# ---- iteration ---------------------------------------------------------------------------------------------------

cdef enum:
    YIELD_ITEMS = 0
    YIELD_KEYS = 1
    YIELD_VALUES = 2


cdef class TreeIterator:
    """Iterates a fixed tree (it holds a reference to the tree's root), so later commits never change what it yields."""
    cdef rx_iter it
    cdef int mode
    cdef object _gc_slot  # never set: gives the type the collector's slots (see the end of this file)

    def __cinit__(self):
        memset(&self.it, 0, sizeof(rx_iter))

    def __dealloc__(self):
        rx_iter_clear(&OPS, &self.it)

    def __iter__(self):
        return self

    def __next__(self):
        cdef const uint8_t *key
        cdef size_t length
        cdef void *value
        cdef int rc = rx_iter_next(&self.it, &key, &length, &value)
        if rc == 1:
            if self.mode == YIELD_ITEMS:
                return _pair(key, length, value)
            if self.mode == YIELD_KEYS:
                return PyBytes_FromStringAndSize(<const char *>key, <Py_ssize_t>length)
            return <object>value
        if rc == 0:
            rx_iter_clear(&OPS, &self.it)  # let the tree go as soon as the iterator is exhausted
            raise StopIteration
        raise MemoryError()


cdef TreeIterator _seek(rx_node *root, object key, int kind, int mode):
    """kind: 0 prefix forward, 1 prefix reverse, 2 lower bound, 3 reverse lower bound."""
    cdef TreeIterator it = TreeIterator.__new__(TreeIterator)
    cdef const uint8_t *ptr
    cdef size_t length
    cdef Py_buffer view
    cdef int viewed = _key_of(key, &ptr, &length, &view)
    cdef int rc
    it.mode = mode
    try:
        if kind <= 1:
            rc = rx_iter_seek_prefix(&it.it, root, ptr, length, kind)
        elif kind == 2:
            rc = rx_iter_seek_lower_bound(&it.it, root, ptr, length)
        else:
            rc = rx_iter_seek_reverse_lower_bound(&it.it, root, ptr, length)
    finally:
        if viewed:
            PyBuffer_Release(&view)
    if rc != RX_OK:
        raise MemoryError()
    return it


cdef int _collect_path(void *arg, size_t key_len, void *value) noexcept:
    cdef list out = <list>arg
    try:
        out.append((key_len, <object>value))
    except BaseException:
        return -1
    return 0


cdef struct _Visit:
    visitproc visit
    void *arg


cdef int _visit_value(void *value, void *arg) noexcept:
    cdef _Visit *v = <_Visit *>arg
    return v.visit(<PyObject *>value, v.arg)


# ---- trees ---------------------------------------------------------------------------------------------------------

cdef class Tree:
    """An immutable radix tree; see raftstore.radix for the contract. ``Tree()`` is empty."""
    cdef rx_node *root
    cdef size_t size
    cdef rx_bloom *bloom  # the key filter (see above), or NULL for small trees
    cdef object __weakref__
    # Never set. Its presence makes Cython give Tree the garbage-collector slots, which _tree_traverse and _tree_clear
    # (at the end of this file) then take over to report the values the tree holds.
    cdef object _gc_slot

    def __cinit__(self):
        self.root = NULL
        self.size = 0
        self.bloom = NULL

    def __init__(self):
        if self.root == NULL:
            self.root = rx_root_new()
            if self.root == NULL:
                raise MemoryError()

    def __dealloc__(self):
        if self.root != NULL:
            rx_node_decref(&OPS, self.root)
            self.root = NULL
        rx_bloom_decref(self.bloom)
        self.bloom = NULL

    def __len__(self):
        return self.size

    def __bool__(self):
        return self.size != 0

    def __repr__(self):
        return f"<Tree len={self.size}>"

    def __contains__(self, key):
        cdef void *value
        return self._lookup(key, &value) == 1

    def __getitem__(self, key):
        cdef void *value
        if self._lookup(key, &value) == 1:
            return <object>value
        raise KeyError(key)

    def get(self, key, default=None):
        """The value stored under key, or default."""
        cdef void *value
        if self._lookup(key, &value) == 1:
            return <object>value
        return default

    cdef int _lookup(self, object key, void **value) except -1:
        if self.bloom == NULL and self.size >= FILTER_MIN_KEYS:
            self.bloom = _filter_of(self.root, self.size)  # a cache: the tree's contents never change
        return _lookup(self.root, self.bloom, key, value)

    def txn(self):
        """A write transaction starting from this tree (which it never changes)."""
        return Txn._start(self.root, self.size, self.bloom)

    def insert(self, key, value):
        """A new tree with key set to value."""
        cdef Txn txn = Txn._start(self.root, self.size, self.bloom)
        txn.insert(key, value)
        return txn.commit()

    def delete(self, key):
        """A new tree without key (this tree itself when key is absent)."""
        cdef Txn txn
        if key not in self:
            return self
        txn = Txn._start(self.root, self.size, self.bloom)
        txn.delete(key)
        return txn.commit()

    def delete_prefix(self, prefix):
        """A new tree without the keys starting with prefix."""
        cdef Txn txn = Txn._start(self.root, self.size, self.bloom)
        txn.delete_prefix(prefix)
        return txn.commit()

    def items(self, prefix=b"", reverse=False):
        """(key, value) pairs of the keys starting with prefix, in byte order (descending when reverse)."""
        return _seek(self.root, prefix, 1 if reverse else 0, YIELD_ITEMS)

    def keys(self, prefix=b"", reverse=False):
        """The keys starting with prefix, in byte order (descending when reverse)."""
        return _seek(self.root, prefix, 1 if reverse else 0, YIELD_KEYS)

    def values(self, prefix=b"", reverse=False):
        """The values of the keys starting with prefix, in key order (descending when reverse)."""
        return _seek(self.root, prefix, 1 if reverse else 0, YIELD_VALUES)

    def __iter__(self):
        return _seek(self.root, b"", 0, YIELD_KEYS)

    def seek_lower_bound(self, key):
        """(key, value) pairs ascending from the first key >= key."""
        return _seek(self.root, key, 2, YIELD_ITEMS)

    def seek_reverse_lower_bound(self, key):
        """(key, value) pairs descending from the last key <= key."""
        return _seek(self.root, key, 3, YIELD_ITEMS)

    def walk_path(self, key):
        """(key, value) pairs of the stored keys that are prefixes of key, shortest first."""
        cdef const uint8_t *ptr
        cdef size_t length
        cdef Py_buffer view
        cdef int viewed = _key_of(key, &ptr, &length, &view)
        cdef list found = []
        cdef int rc
        try:
            rc = rx_walk_path(self.root, ptr, length, _collect_path, <void *>found)
            if rc != 0:
                raise MemoryError()
            return iter([(PyBytes_FromStringAndSize(<const char *>ptr, <Py_ssize_t>n), v) for n, v in found])
        finally:
            if viewed:
                PyBuffer_Release(&view)

    def longest_prefix(self, key):
        """The (key, value) pair of the longest stored key that is a prefix of key, or None."""
        cdef const uint8_t *ptr
        cdef size_t length, found_len
        cdef void *value
        cdef Py_buffer view
        cdef int viewed = _key_of(key, &ptr, &length, &view)
        try:
            if rx_longest_prefix(self.root, ptr, length, &found_len, &value):
                return _pair(ptr, found_len, value)
            return None
        finally:
            if viewed:
                PyBuffer_Release(&view)

    def minimum(self):
        """The (key, value) pair with the smallest key, or None when empty."""
        return next(_seek(self.root, b"", 0, YIELD_ITEMS), None)

    def maximum(self):
        """The (key, value) pair with the largest key, or None when empty."""
        return next(_seek(self.root, b"", 1, YIELD_ITEMS), None)

    def watch(self, key):
        """A Watch that fires when a commit derived from this tree changes key (creates it, if absent)."""
        return self._watch(key, 0)

    def watch_prefix(self, prefix):
        """A Watch that fires when a commit derived from this tree changes any key starting with prefix."""
        return self._watch(prefix, 1)

    cdef object _watch(self, object key, int prefix):
        cdef const uint8_t *ptr
        cdef size_t length
        cdef Py_buffer view
        cdef int viewed = _key_of(key, &ptr, &length, &view)
        cdef void *watch
        try:
            if prefix:
                watch = rx_watch_prefix(&OPS, self.root, ptr, length)
            else:
                watch = rx_watch_key(&OPS, self.root, ptr, length)
        finally:
            if viewed:
                PyBuffer_Release(&view)
        if watch == NULL:
            raise MemoryError()
        return <object>watch

    def _stats(self):
        """(nodes, bytes) allocated for this tree's nodes: for tests and memory reports."""
        cdef size_t nodes, nbytes
        rx_stats(self.root, &nodes, &nbytes)
        return nodes, nbytes

    def _filter_stats(self):
        """(capacity, keys added, bytes) of the key filter, or None: for tests and memory reports."""
        if self.bloom == NULL:
            return None
        return rx_bloom_capacity(self.bloom), rx_bloom_added(self.bloom), rx_bloom_bytes(self.bloom)

    @staticmethod
    cdef Tree _wrap(rx_node *root, size_t size, rx_bloom *bloom):
        """A Tree taking over a reference to root, and sharing the filter (which must hold all its keys)."""
        cdef Tree t = Tree.__new__(Tree)
        t.root = root
        t.size = size
        t.bloom = bloom
        if bloom != NULL:
            rx_bloom_incref(bloom)
        return t


cdef class Txn:
    """A write transaction on a tree; see raftstore.radix for the contract."""
    cdef rx_txn txn
    cdef rx_node *base       # the tree the txn started from or last committed, for abort()
    cdef size_t base_size
    cdef rx_bloom *bloom       # holds every key of txn.root (see the key filter above), or NULL
    cdef rx_bloom *base_bloom  # the filter that holds every key of base (restored by abort), or NULL
    cdef object __weakref__
    cdef object _gc_slot  # never set: gives the type the collector's slots (see the end of this file)

    def __cinit__(self):
        self.txn.root = NULL
        self.base = NULL
        self.bloom = NULL
        self.base_bloom = NULL

    def __dealloc__(self):
        if self.txn.root != NULL:
            rx_txn_clear(&self.txn)
        if self.base != NULL:
            rx_node_decref(&OPS, self.base)
            self.base = NULL
        rx_bloom_decref(self.bloom)
        self.bloom = NULL
        rx_bloom_decref(self.base_bloom)
        self.base_bloom = NULL

    @staticmethod
    cdef Txn _start(rx_node *root, size_t size, rx_bloom *bloom):
        cdef Txn t = Txn.__new__(Txn)
        rx_txn_init(&t.txn, &OPS, root, size)
        rx_node_incref(root)
        t.base = root
        t.base_size = size
        t.bloom = bloom
        t.base_bloom = bloom
        if bloom != NULL:
            rx_bloom_incref(bloom)
            rx_bloom_incref(bloom)
        return t

    cdef void _key_added(self, const uint8_t *key, size_t length):
        """Keeps the filter invariant after a new key went in: add it to the filter, or drop a full filter (the next
        lookup builds a bigger one; see the key filter above). The base tree keeps its own reference to a dropped
        filter, which still holds all of its keys."""
        if self.bloom == NULL:
            return
        if not rx_bloom_full(self.bloom):
            rx_bloom_add(self.bloom, key, length)
            return
        rx_bloom_decref(self.bloom)
        self.bloom = NULL

    def __len__(self):
        return self.txn.size

    def __repr__(self):
        return f"<Txn len={self.txn.size}>"

    def __contains__(self, key):
        cdef void *value
        return self._lookup(key, &value) == 1

    def __getitem__(self, key):
        cdef void *value
        if self._lookup(key, &value) == 1:
            return <object>value
        raise KeyError(key)

    def get(self, key, default=None):
        """The value stored under key in the txn's current contents, or default."""
        cdef void *value
        if self._lookup(key, &value) == 1:
            return <object>value
        return default

    cdef int _lookup(self, object key, void **value) except -1:
        if self.bloom == NULL and self.txn.size >= FILTER_MIN_KEYS:
            # Built from the txn's current keys only: keys of base that this txn deleted are not in it, which is why
            # abort() goes back to base_bloom.
            self.bloom = _filter_of(self.txn.root, self.txn.size)
        return _lookup(self.txn.root, self.bloom, key, value)

    def insert(self, key, value):
        """Sets key to value; returns the previous value, or None."""
        cdef const uint8_t *ptr
        cdef size_t length
        cdef Py_buffer view
        cdef void *old = NULL
        cdef int viewed = _key_of(key, &ptr, &length, &view)
        cdef int rc = rx_txn_insert(&self.txn, ptr, length, <void *>value, &old)
        if rc == 0:
            self._key_added(ptr, length)
        if viewed:
            PyBuffer_Release(&view)
        if rc < 0:
            raise MemoryError()
        if rc == 1:
            previous = <object>old
            Py_DECREF(previous)  # the txn handed us its reference
            return previous
        return None

    def delete(self, key):
        """Removes key; returns the removed value, or None when key was absent."""
        cdef const uint8_t *ptr
        cdef size_t length
        cdef Py_buffer view
        cdef void *old = NULL
        cdef int viewed = _key_of(key, &ptr, &length, &view)
        cdef int rc = rx_txn_delete(&self.txn, ptr, length, &old)
        if viewed:
            PyBuffer_Release(&view)
        if rc < 0:
            raise MemoryError()
        if rc == 1:
            removed = <object>old
            Py_DECREF(removed)
            return removed
        return None

    def delete_prefix(self, prefix):
        """Removes every key starting with prefix in one step; returns how many were removed."""
        cdef const uint8_t *ptr
        cdef size_t length, count = 0
        cdef Py_buffer view
        cdef int viewed = _key_of(prefix, &ptr, &length, &view)
        cdef int rc = rx_txn_delete_prefix(&self.txn, ptr, length, &count)
        if viewed:
            PyBuffer_Release(&view)
        if rc < 0:
            raise MemoryError()
        return count

    def snapshot(self):
        """The txn's current contents as a Tree, in O(1); later writes to the txn do not show in it."""
        return Tree._wrap(rx_txn_snapshot(&self.txn), self.txn.size, self.bloom)

    def commit(self):
        """Returns the new Tree and fires the watches of what changed. The txn stays usable from the new state."""
        # Releasing replaced nodes and the old base may run value destructors, which may use this very txn: take
        # everything the new tree needs first, and let go of the old state last.
        cdef size_t size = self.txn.size
        cdef rx_node *root = rx_txn_commit(&self.txn)
        cdef rx_node *old_base = self.base
        rx_node_incref(root)
        self.base = root
        self.base_size = size
        if self.bloom != NULL:
            rx_bloom_incref(self.bloom)
        rx_bloom_decref(self.base_bloom)
        self.base_bloom = self.bloom
        tree = Tree._wrap(root, size, self.bloom)
        rx_node_decref(&OPS, old_base)
        return tree

    def abort(self):
        """Drops the changes since the start (or the last commit) without firing any watch."""
        cdef rx_txn dropped = self.txn  # released only once the txn is whole again (value destructors may use it)
        rx_txn_init(&self.txn, &OPS, self.base, self.base_size)
        # A filter built or dropped since the start covers the txn's keys, not necessarily base's: go back to base's.
        if self.base_bloom != NULL:
            rx_bloom_incref(self.base_bloom)
        rx_bloom_decref(self.bloom)
        self.bloom = self.base_bloom
        rx_txn_clear(&dropped)


# ---- batches of point operations ------------------------------------------------------------------------------------

cdef enum:
    PREFETCH_MAX = 16


def prefetch_inserts(txns, keys):
    """Warms the CPU cache for inserting keys[i] (a list of bytes keys, or None) into txns[i], for the first 16 keys
    in all: the paths are walked in lockstep (rx_prefetch_paths) so that their cache misses overlap, where inserting
    one key after another waits for each miss in turn. Changes nothing, returns nothing; entries that are not a
    C Txn with bytes keys are skipped. memdb calls it with one record's keys for all of a table's indexes."""
    cdef rx_node *roots[PREFETCH_MAX]
    cdef const uint8_t *ptrs[PREFETCH_MAX]
    cdef size_t lens[PREFETCH_MAX]
    cdef size_t n = 0
    cdef Py_ssize_t i, count = min(len(txns), len(keys))
    cdef Txn txn
    for i in range(count):
        if type(txns[i]) is not Txn:
            continue
        index_keys = keys[i]
        if not index_keys:
            continue
        txn = <Txn>txns[i]
        for key in index_keys:
            if type(key) is not bytes or n == PREFETCH_MAX:
                continue
            roots[n] = txn.txn.root
            ptrs[n] = <const uint8_t *>PyBytes_AS_STRING(key)
            lens[n] = <size_t>PyBytes_GET_SIZE(key)
            n += 1
    if n:
        rx_prefetch_paths(roots, ptrs, lens, n)


def _node_cache_bytes():
    """Bytes of freed nodes kept for reuse by the node allocator (csrc/radix.c): for tests and memory reports."""
    return rx_node_cache_bytes()


def _node_cache_trim():
    """Returns every freed node kept for reuse to malloc."""
    rx_node_cache_trim()


def _node_cache_set_limit(size_t limit):
    """Sets how many bytes of freed nodes are kept for reuse (0: none, plain malloc/free); returns the old limit."""
    return rx_node_cache_set_limit(limit)


# ---- the cycle collector ------------------------------------------------------------------------------------------
# Values stored in a tree can refer back to the tree, a txn or an iterator holding it (a cycle). Cython gives these
# types a tp_traverse for their Python attributes only; the versions below also report the values their holder owns
# alone (rx_visit_owned), each exactly once, and tp_clear drops the nodes, which breaks such cycles. Values in nodes
# shared by several holders are not reported (that would count one reference several times), so a cycle through
# them is collected only once the sharing ends.

cdef int _visit_owned(rx_node *root, uint32_t refs, visitproc visit, void *arg) noexcept:
    cdef _Visit v
    if root == NULL:
        return 0
    v.visit = visit
    v.arg = arg
    return rx_visit_owned(root, refs, _visit_value, <void *>&v)


cdef traverseproc _tree_base_traverse = (<PyTypeObject *>Tree).tp_traverse
cdef inquiry _tree_base_clear = (<PyTypeObject *>Tree).tp_clear
cdef traverseproc _txn_base_traverse = (<PyTypeObject *>Txn).tp_traverse
cdef inquiry _txn_base_clear = (<PyTypeObject *>Txn).tp_clear
cdef traverseproc _iter_base_traverse = (<PyTypeObject *>TreeIterator).tp_traverse
cdef inquiry _iter_base_clear = (<PyTypeObject *>TreeIterator).tp_clear


cdef int _tree_traverse(PyObject *self, visitproc visit, void *arg) noexcept:
    cdef int rc = _tree_base_traverse(self, visit, arg) if _tree_base_traverse != NULL else 0
    return rc or _visit_owned((<Tree>self).root, 1, visit, arg)


cdef int _tree_clear(PyObject *self) noexcept:
    cdef Tree tree = <Tree>self
    cdef rx_node *root = tree.root
    if _tree_base_clear != NULL:
        _tree_base_clear(self)
    if root != NULL:
        # Only garbage is cleared, but code in the same cycle may still look at the tree: leave it empty, not broken.
        tree.root = rx_root_new()
        tree.size = 0
        rx_node_decref(&OPS, root)
    return 0


cdef int _txn_traverse(PyObject *self, visitproc visit, void *arg) noexcept:
    cdef Txn t = <Txn>self
    cdef rx_node *root = t.txn.root
    cdef int rc = _txn_base_traverse(self, visit, arg) if _txn_base_traverse != NULL else 0
    if rc:
        return rc
    if root == t.base:  # right after a start, a commit or an abort the txn holds its root twice
        return _visit_owned(root, 2, visit, arg)
    return _visit_owned(root, 1, visit, arg) or _visit_owned(t.base, 1, visit, arg)


cdef int _txn_clear(PyObject *self) noexcept:
    cdef Txn t = <Txn>self
    cdef rx_txn dropped = t.txn
    cdef rx_node *old_base = t.base
    cdef rx_node *empty = rx_root_new()
    if _txn_base_clear != NULL:
        _txn_base_clear(self)
    if empty == NULL:
        return 0
    rx_txn_init(&t.txn, &OPS, empty, 0)  # left empty, not broken (see _tree_clear)
    t.base = empty
    t.base_size = 0
    if dropped.root != NULL:
        rx_txn_clear(&dropped)
    if old_base != NULL:
        rx_node_decref(&OPS, old_base)
    return 0


cdef int _iter_traverse(PyObject *self, visitproc visit, void *arg) noexcept:
    cdef int rc = _iter_base_traverse(self, visit, arg) if _iter_base_traverse != NULL else 0
    return rc or _visit_owned((<TreeIterator>self).it.root, 1, visit, arg)


cdef int _iter_clear(PyObject *self) noexcept:
    if _iter_base_clear != NULL:
        _iter_base_clear(self)
    rx_iter_clear(&OPS, &(<TreeIterator>self).it)  # an exhausted iterator yields nothing more
    return 0


(<PyTypeObject *>Tree).tp_traverse = _tree_traverse
(<PyTypeObject *>Tree).tp_clear = _tree_clear
(<PyTypeObject *>Txn).tp_traverse = _txn_traverse
(<PyTypeObject *>Txn).tp_clear = _txn_clear
(<PyTypeObject *>TreeIterator).tp_traverse = _iter_traverse
(<PyTypeObject *>TreeIterator).tp_clear = _iter_clear
