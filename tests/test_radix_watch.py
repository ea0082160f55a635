"""Watches on radix trees (raftstore.radix), run against both implementations (``tree_cls``).

The rules (raftstore.radix): every node version has one lazily created watch, which fires when a committed txn
replaces that version: copies it (path copying copies every node on the path of a change, a split copies the child
it shortens), merges it away, or removes it (delete, delete_prefix). So a node's watch fires on any change at or
below it. ``t.watch(key)`` is the watch of the key's node (so it also fires for keys that extend ``key``), or, for a
missing key, of the deepest node on its path; ``t.watch_prefix(p)`` that of the node covering every key under p (or,
with no such key, of the deepest node on p's path). A watch asked of an outdated tree for a node that a committed
txn has replaced is born fired. Abort fires nothing.

Assertions that a watch has NOT fired are made only where the rules say it cannot (no node of it was copied
or removed). Timing: waits use generous deadlines and never sleep-then-assert.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest

Build = Callable[..., Any]
DEADLINE = 60.0  # seconds; only reached when something is broken


async def _await(w: Any) -> bool:
    return await w


# ----------------------------------------------------------------------------------------- key watches


@pytest.mark.parametrize("key", [b"a", b"ab", b"abc", b"b", b""])
def test_key_watch_fires_when_value_replaced(tree_cls: type, build: Build, key: bytes) -> None:
    t = build(tree_cls, {b"": 0, b"a": 1, b"ab": 2, b"abc": 3, b"abd": 4, b"b": 5})
    w = t.watch(key)
    assert not w.fired
    txn = t.txn()
    txn.insert(key, "new")
    assert not w.fired  # watches fire on commit only
    txn.snapshot()
    assert not w.fired
    t2 = txn.commit()
    assert w.fired
    assert t2[key] == "new"
    assert t[key] != "new"
    assert not t2.watch(key).fired  # the new version of the node has a new watch


def test_key_watch_fires_on_replace_with_same_value_object(tree_cls: type, build: Build) -> None:
    v = object()
    t = build(tree_cls, {b"k": v, b"kk": 1})
    w = t.watch(b"k")
    t.insert(b"k", v)
    assert w.fired
    # also when the node is owned by the txn (inserted earlier in it) and has a watch shared with the tree
    t2 = build(tree_cls, {b"k": v})
    w2 = t2.watch(b"k")
    txn = t2.txn()
    txn.insert(b"k", 1)
    txn.insert(b"k", v)
    txn.commit()
    assert w2.fired


@pytest.mark.parametrize("how", ["txn.delete", "tree.delete", "delete_prefix", "delete_prefix(b'')"])
@pytest.mark.parametrize("key", [b"a", b"ab", b"abc", b"b", b""])
def test_key_watch_fires_when_deleted(tree_cls: type, build: Build, how: str, key: bytes) -> None:
    t = build(tree_cls, {b"": 0, b"a": 1, b"ab": 2, b"abc": 3, b"abd": 4, b"b": 5})
    w = t.watch(key)
    if how == "txn.delete":
        txn = t.txn()
        assert txn.delete(key) is not None
        assert not w.fired
        t2 = txn.commit()
    elif how == "tree.delete":
        t2 = t.delete(key)
    elif how == "delete_prefix":
        t2 = t.delete_prefix(key)
    else:
        t2 = t.delete_prefix(b"")
    assert w.fired
    assert key not in t2


def test_key_watch_ignores_other_subtrees(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a1", b"a2", b"b1", b"b2", b"abc1", b"abc2"])
    key_w = t.watch(b"a1")
    prefix_w = t.watch_prefix(b"a")
    missing_w = t.watch(b"abc3")  # the watch of node "abc"
    t2 = t.insert(b"b3", 3)
    t2 = t2.insert(b"b1", "replaced")
    t2 = t2.delete(b"b2")  # "b" merges with "1"
    t2 = t2.delete_prefix(b"b")
    t2 = t2.insert(b"c", 0).insert(b"", 0).insert(b"\xff", 0)
    t2 = t2.delete(b"a3").delete_prefix(b"a3").delete_prefix(b"abc3")  # absent: no change at all
    assert not key_w.fired
    assert not prefix_w.fired
    assert not missing_w.fired
    assert list(t2.keys(b"a")) == [b"a1", b"a2", b"abc1", b"abc2"]


def test_key_watch_ignores_siblings_but_not_keys_below(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a", b"ab", b"abc", b"ad"])
    w = t.watch(b"abc")
    t2 = t.insert(b"ae", 1).delete_prefix(b"ad").insert(b"a", 2)  # beside and above "abc": its node is untouched
    assert not w.fired
    assert t2.watch(b"abc") is w
    w_a = t2.watch(b"a")
    t3 = t2.insert(b"ab\x00", 3)  # a key below "a": node "a" is copied on the way down, so its watch fires
    assert w_a.fired  # (a spurious wake-up for a reader of b"a" alone: allowed; a lost one never is)
    assert not w.fired
    t4 = t3.insert(b"abc", "finally")  # a commit from a descendant tree changes the key
    assert w.fired
    assert t4[b"abc"] == "finally"


def test_split_fires_the_shortened_node(tree_cls: type) -> None:
    t = tree_cls().insert(b"ab", 1)
    w = t.watch(b"ab")
    t2 = t.insert(b"ac", 2)  # split "ab": new node "a" over "b" (the old node, copied and shortened) and "c"
    assert w.fired
    w2 = t2.watch(b"ab")
    assert not w2.fired
    t3 = t2.insert(b"a", 0)  # the intermediate node gets a leaf: node "b" is untouched
    assert not w2.fired
    t4 = t3.insert(b"ab", 9)
    assert w2.fired
    assert t4[b"ab"] == 9 and t3[b"ab"] == 1


# ---------------------------------------------------------------------------------------- missing keys


@pytest.mark.parametrize(
    ("keys", "new"),
    [
        ([], b"a"),
        ([], b""),
        ([b"a"], b""),
        ([b"abc1", b"abc2"], b"abx"),  # splits "abc"
        ([b"abc1", b"abc2"], b"ab"),  # intermediate node holding the new leaf
        ([b"abc1", b"abc2"], b"abc"),  # leaf on an existing inner node
        ([b"abc1", b"abc2"], b"abc3"),  # new child
        ([b"abc1", b"abc2"], b"b"),
        ([b"abc"], b"abcd"),  # below a leaf node
        ([b"x", b"x\x00"], b"x\x00\xff"),
        ([b"\xff\xff"], b"\xff"),
    ],
)
def test_missing_key_watch_fires_when_created(tree_cls: type, build: Build, keys: list[bytes], new: bytes) -> None:
    t = build(tree_cls, keys)
    w = t.watch(new)
    assert not w.fired
    txn = t.txn()
    assert txn.insert(new, "created") is None
    assert not w.fired
    t2 = txn.commit()
    assert w.fired
    assert t2[new] == "created"


def test_missing_key_watch_fires_when_created_later(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"abc1", b"abc2", b"z"])
    w = t.watch(b"abc3")
    t2 = t.insert(b"z2", 1).delete(b"z")  # only root and "z" are touched
    assert not w.fired
    t2.insert(b"abc3", 1)
    assert w.fired


# -------------------------------------------------------------------------------------- prefix watches

PREFIX_KEYS = [b"p/a", b"p/b", b"p/c/1", b"q"]


@pytest.mark.parametrize(
    "op",
    [
        ("insert", b"p/d"),
        ("insert", b"p/a"),  # update
        ("insert", b"p/"),  # the prefix itself
        ("insert", b"p/c/1/x"),
        ("insert", b"p/c/2"),
        ("delete", b"p/b"),
        ("delete", b"p/c/1"),
        ("delete_prefix", b"p/c"),
        ("delete_prefix", b"p/"),
        ("delete_prefix", b"p"),
        ("delete_prefix", b""),
    ],
    ids=lambda op: f"{op[0]}-{op[1]!r}",
)
@pytest.mark.parametrize("prefix", [b"p/", b"p", b""])
def test_watch_prefix_fires_on_change_under_prefix(
    tree_cls: type, build: Build, op: tuple[str, bytes], prefix: bytes
) -> None:
    t = build(tree_cls, PREFIX_KEYS)
    w = t.watch_prefix(prefix)
    assert not w.fired
    txn = t.txn()
    kind, key = op
    if kind == "insert":
        txn.insert(key, "x")
    elif kind == "delete":
        assert txn.delete(key) is not None
    else:
        assert txn.delete_prefix(key) > 0
    assert not w.fired
    txn.commit()
    assert w.fired


@pytest.mark.parametrize("op", [("insert", b"q2"), ("delete", b"q"), ("insert", b"r"), ("insert", b"o")])
def test_watch_prefix_ignores_other_subtrees(tree_cls: type, build: Build, op: tuple[str, bytes]) -> None:
    t = build(tree_cls, PREFIX_KEYS)
    w = t.watch_prefix(b"p/")
    w_deep = t.watch_prefix(b"p/c")
    kind, key = op
    t2 = t.insert(key, 1) if kind == "insert" else t.delete(key)
    assert not w.fired
    assert not w_deep.fired
    t2.insert(b"p/c/9", 1)
    assert w.fired
    assert w_deep.fired


def test_watch_prefix_without_keys_under_it(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"abc1", b"abc2"])
    w_root = t.watch_prefix(b"abd")  # no key: the deepest node on the path is the root
    w_abc = t.watch_prefix(b"abc3")  # the deepest node on the path is "abc"
    assert not w_root.fired
    assert not w_abc.fired
    t2 = t.insert(b"abc3x", 1)
    assert w_abc.fired
    assert w_root.fired  # (the root is always copied)
    w = t2.watch_prefix(b"abd")
    t2.insert(b"abd1", 1)
    assert w.fired
    empty = tree_cls()
    w = empty.watch_prefix(b"x")
    empty.insert(b"x1", 1)
    assert w.fired


def test_root_prefix_watch_fires_on_every_change(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a", b"b/c"])
    changes: list[Callable[[Any], Any]] = [
        lambda t: t.insert(b"z", 1),
        lambda t: t.insert(b"a", 1),
        lambda t: t.insert(b"", 1),
        lambda t: t.delete(b"b/c"),
        lambda t: t.delete_prefix(b"b"),
    ]
    for change in changes:
        w = t.watch_prefix(b"")
        change(t)
        assert w.fired


# -------------------------------------------------------------------------------------- commit / abort


def test_abort_fires_nothing(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"", b"a", b"ab", b"abc", b"b"])
    watches = [t.watch_prefix(b""), t.watch(b""), t.watch(b"a"), t.watch(b"ab"), t.watch_prefix(b"ab")]
    watches += [t.watch(b"abc"), t.watch(b"b"), t.watch(b"new")]
    txn = t.txn()
    txn.insert(b"new", 1)
    txn.insert(b"a", 2)
    txn.delete(b"b")
    txn.delete_prefix(b"ab")
    txn.snapshot()
    txn.delete(b"")
    txn.abort()
    assert not any(w.fired for w in watches)
    txn.commit()  # nothing left to commit
    assert not any(w.fired for w in watches)
    txn.insert(b"a", 3)
    del txn  # a dropped txn is an aborted one
    gc.collect()
    assert not any(w.fired for w in watches)


def test_absent_deletes_and_empty_commits_fire_nothing(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a", b"ab", b"b"])
    watches = [t.watch_prefix(b""), t.watch(b"a"), t.watch(b"ab"), t.watch_prefix(b"a"), t.watch(b"x")]
    txn = t.txn()
    assert txn.delete(b"x") is None
    assert txn.delete(b"abc") is None
    assert txn.delete(b"") is None
    assert txn.delete_prefix(b"abc") == 0
    assert txn.delete_prefix(b"c") == 0
    txn.commit()
    txn.commit()
    t.delete(b"zz")
    t.delete_prefix(b"zz")
    assert not any(w.fired for w in watches)


def test_commit_from_derived_tree_fires_ancestor_watches(tree_cls: type, build: Build) -> None:
    t0 = build(tree_cls, [b"a1", b"a2", b"b1", b"b2"])
    key_w = t0.watch(b"a1")
    prefix_w = t0.watch_prefix(b"a")
    missing_w = t0.watch(b"b3")  # the watch of node "b"
    t1 = t0.insert(b"c", 1)  # touches only the root
    txn = t1.txn()
    txn.insert(b"d", 1)
    snap = txn.snapshot()
    t2 = snap.insert(b"e", 1)
    assert not (key_w.fired or prefix_w.fired or missing_w.fired)
    t3_txn = t2.txn()
    t3_txn.insert(b"a1", "changed")
    t3_txn.insert(b"b3", "created")
    t3_txn.commit()
    assert key_w.fired
    assert prefix_w.fired
    assert missing_w.fired


def test_watch_taken_late_from_an_ancestor(tree_cls: type, build: Build) -> None:
    # The watches are asked of t0 only after t1 (derived from t0) replaced the nodes they belong to.
    t0 = build(tree_cls, [b"a", b"ab", b"b1", b"b2"])
    t1 = t0.insert(b"ac", 1).insert(b"b3", 1)  # copies root, "a" (leaf kept) and "b"
    key_w = t0.watch(b"a")
    prefix_w = t0.watch_prefix(b"b")
    missing_w = t0.watch(b"b4")  # the watch of t0's node "b"
    t2 = t1.insert(b"a", "changed").insert(b"b4", 1)
    assert key_w.fired  # t2 derives from t0 and changed b"a"
    assert prefix_w.fired
    assert missing_w.fired
    assert t2[b"a"] == "changed"


def test_watch_fires_after_its_tree_is_dropped(tree_cls: type) -> None:
    # Dropping the tree a watch came from must not let the txn write that tree's nodes in place unwatched.
    txn = tree_cls().txn()
    for i in range(20):
        txn.insert(b"k%02d" % i, i)
    snap = txn.snapshot()
    watches = [snap.watch(b"k03"), snap.watch_prefix(b"k0"), snap.watch_prefix(b""), snap.watch(b"k0")]
    del snap
    gc.collect()
    txn.insert(b"k03", "new")
    txn.insert(b"k0", "new")
    assert not any(w.fired for w in watches)
    t1 = txn.commit()
    assert all(w.fired for w in watches)
    watches = [t1.watch(b"k13"), t1.watch_prefix(b"k1"), t1.watch_prefix(b""), t1.watch(b"k1")]
    del t1
    gc.collect()
    txn.insert(b"k13", "new")
    txn.insert(b"k1", "new")
    txn.commit()
    assert all(w.fired for w in watches)


# --------------------------------------------------------------------------------------- delete_prefix


def test_delete_prefix_fires_watches_in_subtree(tree_cls: type, build: Build) -> None:
    keys = [b"x/1", b"x/2", b"x/2/a", b"x/2/b", b"x/3/b", b"y"]
    t = build(tree_cls, keys)
    inside = {
        "key x/2": t.watch(b"x/2"),
        "key x/2/a": t.watch(b"x/2/a"),
        "key x/2/b": t.watch(b"x/2/b"),
        "prefix x/2": t.watch_prefix(b"x/2"),
        "prefix x/2/": t.watch_prefix(b"x/2/"),
        "prefix x/2/a": t.watch_prefix(b"x/2/a"),
        "missing x/2/c": t.watch(b"x/2/c"),
    }
    outside = {
        "key x/1": t.watch(b"x/1"),
        "key x/3/b": t.watch(b"x/3/b"),
        "prefix x/3": t.watch_prefix(b"x/3"),
        "key y": t.watch(b"y"),
    }
    txn = t.txn()
    assert txn.delete_prefix(b"x/2") == 3
    assert not any(w.fired for w in inside.values())
    t2 = txn.commit()
    assert [name for name, w in inside.items() if not w.fired] == []
    assert [name for name, w in outside.items() if w.fired] == []
    assert list(t2) == [b"x/1", b"x/3/b", b"y"]
    t2.delete_prefix(b"x/")
    assert [name for name, w in outside.items() if w.fired] == ["key x/1", "key x/3/b", "prefix x/3"]


def test_delete_prefix_everything(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"", b"a", b"ab", b"abc", b"b"])
    watches = [t.watch_prefix(b""), t.watch(b""), t.watch(b"a"), t.watch(b"ab"), t.watch_prefix(b"ab")]
    watches += [t.watch(b"abc"), t.watch_prefix(b"abc"), t.watch(b"b"), t.watch(b"c")]
    t2 = t.delete_prefix(b"")
    assert all(w.fired for w in watches)
    assert len(t2) == 0
    w = t2.watch_prefix(b"")
    t2.insert(b"q", 1)
    assert w.fired


def test_delete_prefix_that_leaves_a_merge(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"x/1", b"x/2", b"x/2/a", b"y"])
    w_1 = t.watch(b"x/1")
    w_y = t.watch(b"y")
    t2 = t.delete_prefix(b"x/2")  # "x/" is left with one child "1": merged into "x/1", which replaces node "1"
    assert w_1.fired
    assert not w_y.fired
    w_merged = t2.watch(b"x/1")
    assert not w_merged.fired and w_merged is not w_1
    t2.delete(b"x/1")
    assert w_merged.fired


# ---------------------------------------------------------------------------------------------- merges


def test_merge_fires_merged_child_prefix_watch(tree_cls: type, build: Build) -> None:
    # keys ab1, ab2, ac: root -> "a" (inner) -> {"b" (inner) -> {1, 2}, "c"}
    t = build(tree_cls, [b"ab1", b"ab2", b"ac"])
    w = t.watch_prefix(b"ab")
    t2 = t.delete(b"ac")  # "a" is left with one child "b": merged into one node "ab"
    assert w.fired  # the merged child leaves the tree: its watch fires
    w2 = t2.watch_prefix(b"ab")
    assert not w2.fired
    t2.insert(b"ab3", 3)
    assert w2.fired


def test_merge_then_insert_under_prefix(tree_cls: type, build: Build) -> None:
    # The same case in two commits as a reader sees it: after "delete ac" then "insert ab3" the watch taken
    # before both must have fired (a merged node that kept the old watch unfired would lose it).
    t = build(tree_cls, [b"ab1", b"ab2", b"ac"])
    w = t.watch_prefix(b"ab")
    txn = t.txn()
    txn.delete(b"ac")
    txn.commit()
    txn.insert(b"ab3", 3)
    t3 = txn.commit()
    assert w.fired
    assert list(t3) == [b"ab1", b"ab2", b"ab3"]


def test_merge_in_one_txn(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"ab1", b"ab2", b"ac"])
    w = t.watch_prefix(b"ab")
    txn = t.txn()
    txn.delete(b"ac")
    txn.insert(b"ab3", 3)
    txn.commit()
    assert w.fired


def test_merge_fires_the_key_watch_of_the_merged_child(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"abc", b"abd"])
    w = t.watch(b"abc")
    assert w is t.watch_prefix(b"abc")  # one watch per node
    t2 = t.delete(b"abd")  # "ab" merges with "c": node "c" leaves the tree
    assert w.fired
    assert t.watch(b"abc").fired  # asked of the outdated tree afterwards: born fired
    w2 = t2.watch(b"abc")
    assert not w2.fired
    t2.insert(b"abc", 2)
    assert w2.fired


def test_merge_of_child_with_children(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a/x1", b"a/x2", b"a/y"])
    w_x = t.watch_prefix(b"a/x")
    w_x1 = t.watch(b"a/x1")
    t2 = t.delete(b"a/y")  # "a/" merges with "x" (which keeps its two children)
    assert w_x.fired
    assert not w_x1.fired
    assert list(t2) == [b"a/x1", b"a/x2"]
    w_merged = t2.watch_prefix(b"a")
    assert w_merged is t2.watch_prefix(b"a/x")
    t2.delete(b"a/x2")
    assert w_merged.fired


# ----------------------------------------------------------------------------------------- handing out


def test_watch_handout_identity(tree_cls: type, build: Build) -> None:
    # root -> "ab" (inner) -> {"c" (inner) -> {"1", "2"}, "d"}; root -> "z"
    t = build(tree_cls, [b"abc1", b"abc2", b"abd", b"z"])
    assert t.watch(b"abc1") is t.watch(b"abc1")
    assert t.watch(bytearray(b"abc1")) is t.watch(memoryview(b"abc1"))
    assert t.watch_prefix(b"ab") is t.watch_prefix(b"a")  # both land on node "ab"
    assert t.watch(b"abx") is t.watch_prefix(b"ab")  # a missing key: deepest node on its path
    assert t.watch_prefix(b"abe") is t.watch_prefix(b"ab")  # no key under "abe": as for a missing key
    assert t.watch(b"abc") is t.watch_prefix(b"abc")  # an inner node without a leaf
    assert t.watch(b"abc3") is t.watch_prefix(b"abc")
    assert t.watch(b"q") is t.watch_prefix(b"")
    assert t.watch(b"") is t.watch_prefix(b"")  # b"" not stored: the root's watch
    assert t.watch_prefix(b"y") is t.watch_prefix(b"")
    assert t.watch_prefix(b"abc1x") is t.watch_prefix(b"abc1")
    assert t.watch(b"z\x00") is t.watch_prefix(b"z")
    assert t.watch(b"abc1") is t.watch_prefix(b"abc1")  # one watch per node
    assert t.watch(b"z") is t.watch_prefix(b"z")
    assert t.watch_prefix(b"abc") is not t.watch_prefix(b"ab")
    # another tree sharing the unchanged nodes hands out the same watches
    t2 = t.insert(b"z", 2)
    assert t2.watch_prefix(b"ab") is t.watch_prefix(b"ab")
    assert t2.watch(b"abc1") is t.watch(b"abc1")
    assert t2.watch_prefix(b"") is not t.watch_prefix(b"")
    t3 = t.insert(b"", 0)
    assert t3.watch(b"") is t3.watch_prefix(b"")


def test_txn_has_no_watch_method(tree_cls: type) -> None:
    txn = tree_cls().txn()
    assert not hasattr(txn, "watch")
    assert not hasattr(txn, "watch_prefix")


def test_watch_lifetime(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a", b"b"])
    ref = weakref.ref(t.watch(b"a"))
    gc.collect()
    assert ref() is not None  # the tree keeps it, so asking again gives the same object
    assert ref() is t.watch(b"a")
    prefix_ref = weakref.ref(t.watch_prefix(b""))
    txn = t.txn()
    txn.insert(b"a", 2)
    t2 = txn.commit()
    assert ref() is not None
    assert ref().fired  # type: ignore[union-attr]
    del t, txn, t2
    gc.collect()
    assert ref() is None  # nothing leaks a watch: not the trees, not the txn's queue
    assert prefix_ref() is None


# --------------------------------------------------------------------------------------------- waiting


def test_fired_and_wait_with_timeout(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"k"])
    w = t.watch(b"k")
    assert w.fired is False
    assert w.wait(0) is False
    assert w.wait(0.05) is False
    assert w.fired is False
    t.insert(b"k", 2)
    assert w.fired is True
    assert w.wait(0) is True
    assert w.wait(DEADLINE) is True
    assert w.wait() is True
    t.delete(b"k")  # firing again changes nothing
    assert w.fired is True


def test_wait_in_thread_woken_by_commit(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"k1", b"k2", b"other"])
    watches = {"k1": t.watch(b"k1"), "k2": t.watch(b"k2"), "prefix": t.watch_prefix(b"k")}
    results: dict[str, bool] = {}
    started = threading.Barrier(len(watches) + 1, timeout=DEADLINE)

    def waiter(name: str, w: Any) -> None:
        started.wait()
        results[name] = w.wait(DEADLINE)

    threads = [threading.Thread(target=waiter, args=item, daemon=True) for item in watches.items()]
    for th in threads:
        th.start()
    started.wait()
    txn = t.txn()
    txn.insert(b"k1", "new")
    txn.delete(b"k2")
    txn.commit()
    for th in threads:
        th.join(DEADLINE)
        assert not th.is_alive()
    assert results == {"k1": True, "k2": True, "prefix": True}


def test_wait_times_out_in_thread_when_unrelated_commit(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"a1", b"a2", b"b1", b"b2"])
    w = t.watch_prefix(b"a")
    result: list[bool] = []
    th = threading.Thread(target=lambda: result.append(w.wait(0.2)), daemon=True)
    th.start()
    t.insert(b"b3", 1)
    th.join(DEADLINE)
    assert result == [False]


def test_wait_in_main_thread_woken_by_commit_in_other_thread(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"k"])
    w = t.watch(b"k")
    th = threading.Thread(target=lambda: t.insert(b"k", 2), daemon=True)
    th.start()
    assert w.wait(DEADLINE) is True
    th.join(DEADLINE)


def test_await_watch(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"k", b"j"])

    async def main() -> None:
        w = t.watch(b"k")
        waiting = asyncio.ensure_future(_await(w))
        await asyncio.sleep(0)
        assert not waiting.done()
        t.insert(b"k", 2)
        assert await asyncio.wait_for(waiting, DEADLINE) is True
        assert await asyncio.wait_for(_await(w), DEADLINE) is True  # already fired: at once
        other = t.watch(b"j")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(_await(other), 0.05)
        assert not other.fired

    asyncio.run(main())


def test_await_watch_fired_from_other_thread(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"k"])

    async def main() -> None:
        w = t.watch_prefix(b"k")
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(_await(w))
        await asyncio.sleep(0)
        committer = loop.run_in_executor(None, lambda: t.insert(b"k2", 2))
        assert await asyncio.wait_for(waiting, DEADLINE) is True
        await asyncio.wait_for(committer, DEADLINE)

    asyncio.run(main())


def test_watch_never_late_under_concurrent_commits(tree_cls: type) -> None:
    # A reader asks every published tree for watches while a writer thread keeps committing changes to the key:
    # a watch created concurrently with (or after) the commit that replaces its node must fire or be born fired.
    n = 1500
    t0 = tree_cls().insert(b"k", 0).insert(b"k/sub", 0)
    published = [t0]
    errors: list[BaseException] = []

    def committer() -> None:
        try:
            txn = t0.txn()
            for i in range(1, n + 1):
                txn.insert(b"k", i)
                published.append(txn.commit())
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the two threads as finely as possible
    try:
        th = threading.Thread(target=committer, daemon=True)
        th.start()
        index = 0
        while index < n and not errors:  # every tree but the last is replaced by a later commit
            if index >= len(published):
                time.sleep(0)
                continue
            tree = published[index]
            for w in (tree.watch(b"k"), tree.watch_prefix(b"k"), tree.watch_prefix(b"")):
                assert w.wait(DEADLINE), index
            index += 1
        th.join(DEADLINE)
    finally:
        sys.setswitchinterval(old_interval)
    assert not errors
    assert len(published) == n + 1
    assert not published[-1].watch(b"k").fired


# ----------------------------------------------------------------------------------------- callbacks


def test_subscribe_runs_callbacks_once_on_fire(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, {b"a": 1, b"b": 2})
    w = t.watch(b"a")
    calls: list[str] = []
    assert w.subscribe(lambda: calls.append("one"))
    dropped = lambda: calls.append("dropped")  # noqa: E731
    assert w.subscribe(dropped)
    w.unsubscribe(dropped)
    w.unsubscribe(dropped)  # not registered any more: a no-op
    assert calls == []
    txn = t.txn()
    txn.insert(b"a", 3)
    assert calls == []  # fires on commit only
    txn.commit()
    assert calls == ["one"]
    t.delete(b"a")  # a fired watch never fires again
    assert calls == ["one"]
    assert not w.subscribe(lambda: calls.append("late"))  # already fired: not registered, not called
    assert calls == ["one"]


def test_subscribed_callback_sees_the_committed_tree(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, {b"k": 1})
    w = t.watch(b"k")
    published: list[Any] = []
    seen: list[Any] = []

    def on_fire() -> None:
        seen.append(published[0][b"k"] if published else None)

    w.subscribe(on_fire)
    txn = t.txn()
    txn.insert(b"k", 2)
    published.append(txn.snapshot())  # what memdb does: publish first, then commit (which fires)
    txn.commit()
    assert seen == [2]
