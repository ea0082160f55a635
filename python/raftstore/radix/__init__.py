"""Persistent (immutable) radix trees over byte-string keys, after hashicorp/go-immutable-radix.

Two implementations share one API and one test suite:

* ``Tree`` — the C tree (``csrc/radix.c`` through the Cython binding ``_radix.pyx``): nodes are C structs that
  Python's garbage collector never sees, path copying with in-place writes to nodes the running transaction owns.
  Trees of 4,096 keys or more also carry a Bloom filter of their keys (``csrc/bloom.c``, about 1.6 bytes a key)
  that turns most lookups of absent keys into one cache miss instead of a walk down the tree; it is invisible in
  the API.
* ``PyTree`` — the pure-Python reference (``pyradix.py``): the executable specification, and a benchmark backend.

The contract, for both:

* ``Tree()`` is empty. Trees never change: ``len(t)``, ``key in t``, ``t[key]`` (KeyError when absent),
  ``t.get(key, default=None)``. Keys are bytes (any bytes-like object is accepted; iteration yields ``bytes``);
  values are any Python objects, kept alive while a tree holds them.
* ``t.txn()`` starts a ``Txn``: ``insert(key, value)`` returns the previous value or None, ``delete(key)`` the removed
  value or None, ``delete_prefix(prefix)`` how many keys it removed; ``get``, ``in``, ``[]``, ``len``; ``snapshot()``
  returns the txn's current contents as a Tree in O(1) (later writes to the txn do not show in it);
  ``commit()`` returns the new Tree and fires the watches the txn's changes concern; ``abort()`` drops the changes.
  A transaction never changes the tree it started from, and keeps working after ``commit()``.
* ``t.insert(key, value)``, ``t.delete(key)``, ``t.delete_prefix(prefix)`` return new trees (one-operation txns).
* Iteration: ``t.items(prefix=b"", reverse=False)`` (also ``keys`` and ``values`` with the same arguments) in byte
  order; ``t.seek_lower_bound(key)`` ascending from the first key >= key; ``t.seek_reverse_lower_bound(key)``
  descending from the last key <= key; ``t.walk_path(key)`` the stored keys that are prefixes of key, shortest
  first; ``t.longest_prefix(key)``, ``t.minimum()``, ``t.maximum()`` return a ``(key, value)`` pair or None;
  ``iter(t)`` yields keys ascending.
* Watches: ``t.watch(key)`` and ``t.watch_prefix(prefix)`` return a ``Watch`` that fires once a transaction
  committed from ``t`` or a descendant changes that key / anything under that prefix (see ``watch.py``). Each node
  version has one watch, which fires when a committed transaction replaces that node: so ``watch(key)`` also fires
  for changes to keys that extend ``key``, and a watch asked of an outdated tree for a part that has since changed
  is born fired. Spurious wake-ups are possible; late ones are not.
"""

from raftstore.radix._radix import Tree, Txn
from raftstore.radix.pyradix import PyTree, PyTxn
from raftstore.radix.watch import Watch

__all__ = ["PyTree", "PyTxn", "Tree", "Txn", "Watch"]
