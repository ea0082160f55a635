"""The pure-Python persistent radix tree: ``PyTree`` and its transaction ``PyTxn``.

This is the executable specification of ``raftstore.radix`` (the C ``Tree`` builds the same shapes and fires the
same watches) and a benchmark backend, so it favours plain data structures and few allocations over cleverness.

Shape: the canonical compressed radix tree of hashicorp/go-immutable-radix. A ``_Node`` has a ``prefix`` (its
part of the key, empty only at the root), a leaf (``key is not None``; the full key is stored, so iteration never
rebuilds keys from prefixes, which would be quadratic in deep trees) and sorted parallel ``labels`` / ``children``
(``labels[i] == children[i].prefix[0]``). Invariants, restored by ``_merge`` after every removal: a non-root node
without a leaf has at least two children; a non-root node holds a leaf or has children.

Persistence: trees are never mutated. A ``PyTxn`` writes through a generation token: the nodes it created carry
``owner is txn._token`` and are changed in place; any other node is copied first and the copy linked into its
parent, which the txn made writable before (top-down path copying). So owned nodes only sit below owned nodes, and
a bulk load copies nothing after the first write to a node. ``commit()`` and ``snapshot()`` replace the token,
which freezes every node a tree can see.

Every walk is a loop over an explicit stack or path list: 64 KiB keys make trees up to 64 Ki levels deep.

Watches (watch.py): every node version has one, created lazily, that fires when a committed txn replaces that
version (copies it, merges it away or removes it). Path copying replaces every node on the path of a change, so a
node's watch fires on any change at or below it: ``watch(key)`` is the watch of the key's node (or of the deepest
node on its path), ``watch_prefix(p)`` that of the node covering ``p``. Laziness must not lose a wake-up, so a txn
queues the *nodes* it replaces, not their watches: at commit a queued node's watch fires, and a missing one is set
to the fired ``_FIRED``, so a watch asked of an outdated tree after the fact is already fired. Nodes a txn owns
never have a watch (only trees hand out watches, and a tree's nodes are never owned).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from operator import attrgetter
from typing import Any, TypeAlias

from raftstore.radix.watch import Watch

__all__ = ["PyTree", "PyTxn"]

KeyLike: TypeAlias = bytes | bytearray | memoryview
Item: TypeAlias = tuple[bytes, Any]

# Serialises lazy watch creation against commit's marking of replaced nodes, so that a watch handed out by one
# thread while another commits is either fired by the commit or created already fired. Held for a few statements.
_lock = threading.Lock()

# What a replaced node's missing watch becomes at commit: asking an outdated tree for it yields a fired watch.
_FIRED = Watch()
_FIRED._fire()

_ITEM = attrgetter("key", "value")
_KEY = attrgetter("key")
_VALUE = attrgetter("value")


class _Node:
    """One node. ``labels``/``children`` of a childless node are the shared empty sentinels below, which must never
    be mutated: only ``_add_child`` grows them, and it replaces a sentinel instead of appending to it."""

    __slots__ = ("children", "key", "labels", "owner", "prefix", "value", "watch")

    def __init__(self, prefix: bytes, key: bytes | None, value: Any, owner: object) -> None:
        self.prefix = prefix
        self.key = key  # the full key when the node holds a leaf, else None
        self.value = value
        self.owner = owner  # the token of the txn that may write this node in place
        self.labels = _NO_LABELS
        self.children = _NO_CHILDREN
        self.watch: Watch | None = None


_NO_LABELS = bytearray()
_NO_CHILDREN: list[_Node] = []


def _as_key(key: KeyLike) -> bytes:
    """Keys are stored as exact ``bytes``; any other buffer is copied, and a str is refused (it has no bytes)."""
    if type(key) is bytes:
        return key
    if isinstance(key, str):
        raise TypeError("radix keys are bytes-like objects, not str")
    try:
        return bytes(memoryview(key))
    except TypeError:
        raise TypeError(f"radix keys are bytes-like objects, not {type(key).__name__}") from None


def _watch(node: _Node) -> Watch:
    """The node's watch, created on first request (double-checked under ``_lock``, see there)."""
    w = node.watch
    if w is None:
        with _lock:
            w = node.watch
            if w is None:
                w = node.watch = Watch()
    return w


def _common_len(p: bytes, key: bytes, i: int) -> int:
    """Length of the common prefix of ``p`` and ``key[i:]``, given that the first byte is shared and the whole of
    ``p`` is not. Binary search over C-level ``startswith`` so a 64 KiB prefix costs ~16 comparisons, not a loop."""
    lo, hi = 1, min(len(p), len(key) - i)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if key.startswith(p[:mid], i):
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---- reads (on a fixed root; shared by PyTree and PyTxn) -------------------------------------------------------------


def _lookup(root: _Node, key: bytes) -> _Node | None:
    """The node holding ``key``, or None. Descends by labels only and compares the stored key once at the end: if
    ``key`` is stored, the labels lead exactly to it; any other arrival point holds a different key or none."""
    node, i, n = root, 0, len(key)
    while i < n:
        j = node.labels.find(key[i])
        if j < 0:
            return None
        node = node.children[j]
        i += len(node.prefix)
    return node if i == n and node.key == key else None


def _deepest(root: _Node, key: bytes) -> tuple[_Node, int]:
    """The deepest node whose full path is a prefix of ``key``, and that path's length."""
    node, i, n = root, 0, len(key)
    while i < n:
        j = node.labels.find(key[i])
        if j < 0:
            break
        child = node.children[j]
        if not key.startswith(child.prefix, i):
            break
        node, i = child, i + len(child.prefix)
    return node, i


def _cover(root: _Node, prefix: bytes, path: list[int] | None = None) -> tuple[_Node | None, _Node]:
    """``(covering, deepest)``: the shallowest node whose full path starts with ``prefix`` (None when no key has that
    prefix: every key under it is in the covering node's subtree), and the deepest node visited whose path is a
    prefix of ``prefix``. Appends the child indexes taken from the root to ``path`` when given."""
    node, i, n = root, 0, len(prefix)
    while i < n:
        j = node.labels.find(prefix[i])
        if j < 0:
            return None, node
        child = node.children[j]
        p = child.prefix
        if not prefix.startswith(p, i) and not (len(p) > n - i and p.startswith(prefix[i:])):
            return None, node
        if path is not None:
            path.append(j)
        node, i = child, i + len(p)
    return node, node


def _ascending(stack: list[_Node]) -> Iterator[_Node]:
    """Leaf nodes in key order: pre-order (a node's key is a prefix of, so sorts before, its descendants'). The top
    of ``stack`` is visited first; callers seed it with whole subtrees, largest at the bottom."""
    while stack:
        node = stack.pop()
        if node.key is not None:
            yield node
        kids = node.children
        if kids:
            stack.extend(reversed(kids))


def _descending(stack: list[_Node | tuple[_Node]]) -> Iterator[_Node]:
    """Leaf nodes in reverse key order: children from the last, then the node's own key. A node on the stack means
    "its whole subtree"; a 1-tuple ``(node,)`` means "just its key", queued below its children."""
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            yield item[0]
            continue
        kids = item.children
        if item.key is not None:
            if not kids:
                yield item
                continue
            stack.append((item,))
        stack.extend(kids)


def _seek_ascending(root: _Node, key: bytes) -> Iterator[_Node]:
    """Leaf nodes from the first key >= ``key``, positioned by one descent (O(depth)) like iradix SeekLowerBound:
    at each level the children whose label is above key's byte are pushed whole, then the matching child decides."""
    stack: list[_Node] = []
    node, i, n = root, 0, len(key)
    while True:
        if i == n:  # node's path == key: its whole subtree is >= key
            stack.append(node)
            break
        # node's path is a proper prefix of key, so its own key (if any) is smaller: skipped.
        c, labels = key[i], node.labels
        j = bisect_left(labels, c)
        found = j < len(labels) and labels[j] == c
        stack.extend(reversed(node.children[j + 1 if found else j :]))
        if not found:
            break
        child = node.children[j]
        p = child.prefix
        seg = key[i : i + len(p)]
        if p == seg:
            node, i = child, i + len(p)
            continue
        if p > seg:  # diverges upwards, or extends key: the whole child subtree is > key
            stack.append(child)
        break
    return _ascending(stack)


def _seek_descending(root: _Node, key: bytes) -> Iterator[_Node]:
    """Leaf nodes from the last key <= ``key`` downwards, positioned by one descent (iradix SeekReverseLowerBound):
    a node's own key and the children below key's byte are pushed before descending into the matching child."""
    stack: list[_Node | tuple[_Node]] = []
    node, i, n = root, 0, len(key)
    while True:
        if node.key is not None:  # node's path is a prefix of key, so <= key; it comes after its subtree
            stack.append((node,))
        if i == n:  # every descendant extends key, so is > key
            break
        c, labels = key[i], node.labels
        j = bisect_left(labels, c)
        stack.extend(node.children[:j])
        if j == len(labels) or labels[j] != c:
            break
        child = node.children[j]
        p = child.prefix
        seg = key[i : i + len(p)]
        if p == seg:
            node, i = child, i + len(p)
            continue
        if p < seg:  # diverges downwards: the whole child subtree is < key
            stack.append(child)
        break
    return _descending(stack)


def _walk(root: _Node, key: bytes) -> Iterator[_Node]:
    """Leaf nodes whose key is a prefix of ``key``, shortest first (they all lie on key's lookup path)."""
    node, i, n = root, 0, len(key)
    while True:
        if node.key is not None:
            yield node
        if i == n:
            return
        j = node.labels.find(key[i])
        if j < 0:
            return
        node = node.children[j]
        if not key.startswith(node.prefix, i):
            return
        i += len(node.prefix)


def _leaves(root: _Node, prefix: KeyLike, reverse: bool) -> Iterator[_Node]:
    """Leaf nodes under ``prefix``: one O(depth) descent to the covering node, then a walk of its subtree only."""
    node = _cover(root, _as_key(prefix))[0]
    if node is None:
        return iter(())
    return _descending([node]) if reverse else _ascending([node])


# ---- trees -----------------------------------------------------------------------------------------------------------


class _PointReads:
    """The point reads PyTree and PyTxn share: both keep their current root in ``_root``."""

    __slots__ = ()
    _root: _Node

    def __contains__(self, key: KeyLike) -> bool:
        return _lookup(self._root, _as_key(key)) is not None

    def __getitem__(self, key: KeyLike) -> Any:
        node = _lookup(self._root, _as_key(key))
        if node is None:
            raise KeyError(key)
        return node.value

    def get(self, key: KeyLike, default: Any = None) -> Any:
        node = _lookup(self._root, _as_key(key))
        return default if node is None else node.value


class PyTree(_PointReads):
    """An immutable radix tree mapping bytes to Python objects; see the package docstring for the API."""

    __slots__ = ("_root", "_size")

    def __init__(self) -> None:
        self._root = _Node(b"", None, None, None)
        self._size = 0

    @classmethod
    def _of(cls, root: _Node, size: int) -> PyTree:
        tree = cls.__new__(cls)
        tree._root = root
        tree._size = size
        return tree

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"<PyTree len={self._size}>"

    def txn(self) -> PyTxn:
        return PyTxn(self)

    def insert(self, key: KeyLike, value: Any) -> PyTree:
        txn = PyTxn(self)
        txn.insert(key, value)
        return txn.commit()

    def delete(self, key: KeyLike) -> PyTree:
        txn = PyTxn(self)
        txn.delete(key)
        return txn.commit()

    def delete_prefix(self, prefix: KeyLike) -> PyTree:
        txn = PyTxn(self)
        txn.delete_prefix(prefix)
        return txn.commit()

    def __iter__(self) -> Iterator[bytes]:
        return map(_KEY, _ascending([self._root]))

    def items(self, prefix: KeyLike = b"", reverse: bool = False) -> Iterator[Item]:
        return map(_ITEM, _leaves(self._root, prefix, reverse))

    def keys(self, prefix: KeyLike = b"", reverse: bool = False) -> Iterator[bytes]:
        return map(_KEY, _leaves(self._root, prefix, reverse))

    def values(self, prefix: KeyLike = b"", reverse: bool = False) -> Iterator[Any]:
        return map(_VALUE, _leaves(self._root, prefix, reverse))

    def seek_lower_bound(self, key: KeyLike) -> Iterator[Item]:
        return map(_ITEM, _seek_ascending(self._root, _as_key(key)))

    def seek_reverse_lower_bound(self, key: KeyLike) -> Iterator[Item]:
        return map(_ITEM, _seek_descending(self._root, _as_key(key)))

    def walk_path(self, key: KeyLike) -> Iterator[Item]:
        return map(_ITEM, _walk(self._root, _as_key(key)))

    def longest_prefix(self, key: KeyLike) -> Item | None:
        last = deque(self.walk_path(key), maxlen=1)
        return last[0] if last else None

    def minimum(self) -> Item | None:
        node = self._root
        while node.key is None and node.children:  # a key sorts before its descendants
            node = node.children[0]
        return None if node.key is None else (node.key, node.value)

    def maximum(self) -> Item | None:
        node = self._root
        while node.children:  # descendants sort after their ancestors' keys
            node = node.children[-1]
        return None if node.key is None else (node.key, node.value)

    def watch(self, key: KeyLike) -> Watch:
        """The watch of the node holding ``key``; when ``key`` is absent, of the deepest node on its path, which any
        insert of ``key`` must copy or split below. It also fires for changes to keys that extend ``key``."""
        return _watch(_deepest(self._root, _as_key(key))[0])

    def watch_prefix(self, prefix: KeyLike) -> Watch:
        """The watch of the node covering every key under ``prefix`` or, when there is none, of the deepest node on
        the prefix's path (an insert under ``prefix`` has to go through it)."""
        covering, deepest = _cover(self._root, _as_key(prefix))
        return _watch(deepest if covering is None else covering)


# ---- transactions ----------------------------------------------------------------------------------------------------


class PyTxn(_PointReads):
    """A batch of writes on a private copy-on-write version of a tree. Not thread-safe (one writer at a time)."""

    __slots__ = ("_base_root", "_base_size", "_replaced", "_root", "_size", "_token")

    def __init__(self, tree: PyTree) -> None:
        self._base_root = self._root = tree._root
        self._base_size = self._size = tree._size
        self._token = object()
        self._replaced: list[_Node] = []  # visible nodes copied, merged away or removed: their watch fires

    def __len__(self) -> int:
        return self._size

    # -- node ownership and watch queueing --

    def _copy(self, node: _Node) -> _Node:
        """An owned copy of a node this txn does not own; the original's watch fires at commit."""
        kids = node.children
        copy = _Node(node.prefix, node.key, node.value, self._token)
        if kids:
            copy.labels = node.labels.copy()
            copy.children = kids.copy()
        self._replaced.append(node)
        return copy

    def _own_root(self) -> _Node:
        root = self._root
        if root.owner is not self._token:
            root = self._root = self._copy(root)
        return root

    def _own_child(self, parent: _Node, j: int) -> _Node:
        """``parent.children[j]`` made writable; ``parent`` must be owned already (top-down)."""
        child = parent.children[j]
        if child.owner is not self._token:
            child = parent.children[j] = self._copy(child)
        return child

    def _own_path(self, path: list[int]) -> _Node:
        """Makes the nodes from the root along ``path`` writable, except the last one; returns its (owned) parent."""
        token = self._token
        node = self._own_root()
        for k in range(len(path) - 1):  # _own_child, inlined: this loop is the whole cost of a delete's copying
            j = path[k]
            child = node.children[j]
            if child.owner is not token:
                child = node.children[j] = self._copy(child)
            node = child
        return node

    def _set_leaf(self, node: _Node, key: bytes, value: Any) -> Any:
        """Stores the leaf in an owned node; returns the previous value (making the node owned already queued the
        watch of its visible version, even when the new value is the same object)."""
        if node.key is None:
            old = None
            self._size += 1
        else:
            old = node.value
        node.key, node.value = key, value
        return old

    @staticmethod
    def _clear_leaf(node: _Node) -> None:
        node.key = node.value = None

    def _discard(self, node: _Node) -> None:
        """A node leaves the tree: a visible one has its watch fire at commit (an owned one has none)."""
        if node.owner is not self._token:
            self._replaced.append(node)

    # -- structure --

    @staticmethod
    def _add_child(node: _Node, child: _Node) -> None:
        """Links a new child into an owned node, keeping labels sorted (the label must be absent)."""
        c = child.prefix[0]
        if node.children:
            j = bisect_left(node.labels, c)
            node.labels.insert(j, c)
            node.children.insert(j, child)
        else:  # replace the shared empty sentinels (or an emptied private pair)
            node.labels = bytearray((c,))
            node.children = [child]

    @staticmethod
    def _remove_child(node: _Node, j: int) -> None:
        del node.labels[j]
        del node.children[j]

    def _merge(self, node: _Node) -> None:
        """Restores the invariant for an owned non-root node left without a leaf and with one child C: the node takes
        C's prefix tail, leaf and children (C leaves the tree, so its watch fires: iradix forgets this one)."""
        child = node.children[0]
        labels, kids = child.labels, child.children
        if child.owner is not self._token:  # C is visible: copy its lists, queue it
            self._replaced.append(child)
            if kids:
                labels, kids = labels.copy(), kids.copy()
        node.prefix += child.prefix
        node.key, node.value = child.key, child.value
        node.labels, node.children = labels, kids

    def _split(self, child: _Node, key: bytes, i: int, value: Any) -> _Node:
        """The node replacing ``child`` when ``key[i:]`` diverges inside (or ends inside) child's prefix: a new node
        holds the common part; under it go child (made writable, prefix shortened) and the new key."""
        p = child.prefix
        k = _common_len(p, key, i)
        token = self._token
        old = child if child.owner is token else self._copy(child)
        old.prefix = p[k:]
        mid = _Node(p[:k], None, None, token)
        rest = i + k
        if rest == len(key):
            mid.key, mid.value = key, value
            mid.labels, mid.children = bytearray((old.prefix[0],)), [old]
        else:
            leaf = _Node(key[rest:], key, value, token)
            pair = [old, leaf] if old.prefix[0] < key[rest] else [leaf, old]
            mid.labels, mid.children = bytearray((pair[0].prefix[0], pair[1].prefix[0])), pair
        return mid

    # -- writes --

    def insert(self, key: KeyLike, value: Any) -> Any:
        """Inserts or replaces; returns the previous value or None. Every insert changes the tree (a replaced leaf
        fires its watch), so the path is made writable on the way down."""
        if type(key) is not bytes:
            key = _as_key(key)
        token, n = self._token, len(key)
        node = self._root
        if node.owner is not token:
            node = self._own_root()
        i = 0
        while i < n:
            j = node.labels.find(key[i])
            if j < 0:
                self._add_child(node, _Node(key[i:], key, value, token))
                self._size += 1
                return None
            child = node.children[j]
            p = child.prefix
            if not key.startswith(p, i):
                node.children[j] = self._split(child, key, i, value)
                self._size += 1
                return None
            i += len(p)
            if child.owner is not token:
                child = node.children[j] = self._copy(child)
            node = child
        return self._set_leaf(node, key, value)

    def delete(self, key: KeyLike) -> Any:
        """Deletes ``key``; returns its value, or None (changing nothing) when absent. Finds the key first, then
        makes the path writable and repairs the shape at the bottom (only the target and its parent can change)."""
        key = _as_key(key)
        node, i, n = self._root, 0, len(key)
        path: list[int] = []
        while i < n:
            j = node.labels.find(key[i])
            if j < 0:
                return None
            node = node.children[j]
            i += len(node.prefix)
            path.append(j)
        if i != n or node.key != key:
            return None
        value = node.value
        self._size -= 1
        if not path:  # the empty key lives in the root, which is never merged or removed
            self._clear_leaf(self._own_root())
            return value
        parent = self._own_path(path)
        j = path[-1]
        if node.children:  # the node stays for its children
            node = self._own_child(parent, j)
            self._clear_leaf(node)
            if len(node.children) == 1:
                self._merge(node)
        else:
            self._discard(node)
            self._remove_child(parent, j)
            self._repair(parent)
        return value

    def _repair(self, node: _Node) -> None:
        """After a child was removed from the owned ``node``: merge it if it is now a leafless one-child inner node."""
        if node is not self._root and node.key is None and len(node.children) == 1:
            self._merge(node)

    def delete_prefix(self, prefix: KeyLike) -> int:
        """Deletes every key starting with ``prefix`` by unlinking the covering subtree; returns how many. The
        subtree walk (counting, and queueing the visible nodes) is the only cost beyond O(depth)."""
        prefix = _as_key(prefix)
        path: list[int] = []
        covering = _cover(self._root, prefix, path)[0]
        if covering is None:
            return 0
        if not path:  # the root stays, emptied
            count = self._size
            if count:
                root = self._own_root()
                if root.key is not None:
                    self._clear_leaf(root)
                for child in root.children:
                    self._drop_subtree(child)
                root.labels, root.children = _NO_LABELS, _NO_CHILDREN
                self._size = 0
            return count
        parent = self._own_path(path)
        count = self._drop_subtree(covering)
        self._remove_child(parent, path[-1])
        self._repair(parent)
        self._size -= count
        return count

    def _drop_subtree(self, top: _Node) -> int:
        """Discards every node under ``top`` (iteratively); returns the number of keys it held."""
        count = 0
        stack = [top]
        while stack:
            node = stack.pop()
            if node.key is not None:
                count += 1
            self._discard(node)
            stack.extend(node.children)
        return count

    # -- versions --

    def _renew(self) -> None:
        """A fresh token: every node reachable so far becomes read-only for this txn (they are now in a tree)."""
        self._token = object()

    def snapshot(self) -> PyTree:
        """The current contents as a tree, in O(1); later writes copy whatever it shares."""
        self._renew()
        return PyTree._of(self._root, self._size)

    def commit(self) -> PyTree:
        """Publishes the current contents, then fires the watches the changes concern; the txn goes on from there."""
        tree = PyTree._of(self._root, self._size)
        # The old base and the replaced nodes are dropped last, once the txn is whole: dropping them may run value
        # destructors, which may use this very txn.
        old_base, replaced = self._base_root, self._replaced
        self._base_root, self._base_size = self._root, self._size
        self._replaced = []
        self._renew()
        fire = []
        with _lock:  # no watch may be created on a queued node between our check and our mark
            for node in replaced:
                w = node.watch
                if w is None:
                    node.watch = _FIRED
                elif not w.fired:
                    fire.append(w)
        for w in fire:
            w._fire()
        del old_base, replaced
        return tree

    def abort(self) -> None:
        """Drops the uncommitted changes and their queued watches; the txn goes back to its last committed tree."""
        dropped, replaced = self._root, self._replaced  # released last, as in commit
        self._root, self._size = self._base_root, self._base_size
        self._replaced = []
        self._renew()
        del dropped, replaced
