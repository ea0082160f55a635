"""Behaviour of the persistent radix tree (raftstore.radix), run against both implementations (``tree_cls``).

The contract is the docstring of raftstore/radix/__init__.py (and the radix spec): trees are immutable, a Txn
never changes the tree it started from, and every read form agrees with a sorted dict.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest

# A small key set whose shape has every kind of node: the root leaf (b""), leaves with children (b"a", b"ab",
# b"\xff"), inner nodes without a leaf (b"abc" over abc1/abc2, b"foo/", b"foo/ba"), bytes 0x00 and 0xff.
KEYS = [
    b"",
    b"\x00",
    b"\x00\x00",
    b"\x00\xff",
    b"a",
    b"ab",
    b"abc1",
    b"abc2",
    b"abd",
    b"b",
    b"ba",
    b"bb",
    b"foo/bar",
    b"foo/baz",
    b"foo/qux/1",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
]
SAMPLE = {k: i for i, k in enumerate(KEYS)}

Build = Callable[..., Any]
Check = Callable[..., None]


# ------------------------------------------------------------------------------------------- basic API


def test_empty_tree(tree_cls: type) -> None:
    t = tree_cls()
    assert len(t) == 0
    assert list(t) == []
    assert b"" not in t
    assert b"a" not in t
    assert t.get(b"a") is None
    assert t.get(b"", 7) == 7
    with pytest.raises(KeyError):
        t[b""]
    assert list(t.items()) == []
    assert list(t.items(b"a", reverse=True)) == []
    assert list(t.keys()) == []
    assert list(t.values()) == []
    assert list(t.seek_lower_bound(b"")) == []
    assert list(t.seek_reverse_lower_bound(b"\xff" * 4)) == []
    assert list(t.walk_path(b"abc")) == []
    assert t.longest_prefix(b"abc") is None
    assert t.minimum() is None
    assert t.maximum() is None
    txn = t.txn()
    assert len(txn) == 0
    assert txn.get(b"x") is None
    assert txn.delete(b"x") is None
    assert txn.delete_prefix(b"") == 0
    assert len(txn.commit()) == 0


def test_repr(tree_cls: type, build: Build) -> None:
    assert repr(tree_cls()) == f"<{tree_cls.__name__} len=0>"
    assert repr(build(tree_cls, [b"a", b"b", b"c"])) == f"<{tree_cls.__name__} len=3>"


def test_insert_get_contains(tree_cls: type) -> None:
    txn = tree_cls().txn()
    for k, v in SAMPLE.items():
        assert txn.insert(k, v) is None
        assert k in txn
        assert txn[k] == v
        assert txn.get(k) == v
    t = txn.commit()
    for k, v in SAMPLE.items():
        assert k in t
        assert t[k] == v
        assert t.get(k) == v
        assert t.get(k, "default") == v
    for missing in [b"abc", b"abc3", b"fo", b"foo", b"foo/", b"\x00\x01", b"c", b"\xff\xff\xff", b"abc1\x00"]:
        assert missing not in t
        assert t.get(missing) is None


def test_getitem_missing_raises_keyerror(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, [b"ab", b"abc"])
    for missing in [b"", b"a", b"abd", b"abcd", b"b"]:
        with pytest.raises(KeyError):
            t[missing]
        with pytest.raises(KeyError):
            t.txn()[missing]


def test_get_default(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, {b"a": 1})
    sentinel = object()
    assert t.get(b"b") is None
    assert t.get(b"b", sentinel) is sentinel
    assert t.get(b"a", sentinel) == 1
    txn = t.txn()
    assert txn.get(b"b", sentinel) is sentinel
    assert txn.get(b"a", sentinel) == 1


def test_txn_insert_returns_previous_value(tree_cls: type) -> None:
    txn = tree_cls().txn()
    v1, v2, v3 = object(), object(), object()
    assert txn.insert(b"k", v1) is None
    assert txn.insert(b"k", v2) is v1
    assert txn.insert(b"k", v2) is v2
    t = txn.commit()
    txn2 = t.txn()
    assert txn2.insert(b"k", v3) is v2  # replacing a value in a node the txn does not own
    assert txn2.insert(b"k2", v1) is None
    assert t[b"k"] is v2


def test_txn_delete_returns_removed_value(tree_cls: type, build: Build) -> None:
    v = object()
    t = build(tree_cls, {b"a": v, b"ab": 2, b"abc": 3})
    txn = t.txn()
    assert txn.delete(b"x") is None
    assert txn.delete(b"abcd") is None
    assert txn.delete(b"") is None
    assert txn.delete(b"a") is v
    assert txn.delete(b"a") is None
    assert txn.delete(b"abc") == 3
    assert len(txn) == 1
    assert dict(txn.commit().items()) == {b"ab": 2}


def test_txn_delete_prefix_returns_count(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, SAMPLE)
    cases = {
        b"": len(KEYS),
        b"a": 5,
        b"ab": 4,
        b"abc": 2,
        b"abc1": 1,
        b"abe": 0,
        b"foo/": 3,
        b"foo/ba": 2,
        b"fo": 3,
        b"\x00": 3,
        b"\xff": 3,
        b"\xff\xff": 1,
        b"\xff\xff\xff": 0,
        b"zz": 0,
    }
    for prefix, count in cases.items():
        assert count == sum(1 for k in KEYS if k.startswith(prefix))  # (the table itself is right)
        txn = t.txn()
        assert txn.delete_prefix(prefix) == count, prefix
        assert len(txn) == len(KEYS) - count
        assert txn.delete_prefix(prefix) == 0
        remaining = txn.commit()
        assert list(remaining) == [k for k in KEYS if not k.startswith(prefix)]
    assert len(t) == len(KEYS)


def test_len_tree_and_txn(tree_cls: type) -> None:
    t = tree_cls()
    txn = t.txn()
    for i in range(50):
        txn.insert(b"k%d" % i, i)
        assert len(txn) == i + 1
    txn.insert(b"k7", "again")
    assert len(txn) == 50
    txn.delete(b"nope")
    assert len(txn) == 50
    txn.delete(b"k7")
    assert len(txn) == 49
    assert txn.delete_prefix(b"k1") == 11  # k1, k10..k19
    assert len(txn) == 38
    t2 = txn.commit()
    assert len(t2) == 38
    assert len(t) == 0
    assert len(t2.insert(b"new", 0)) == 39
    assert len(t2.delete(b"k2")) == 37
    assert len(t2.delete(b"missing")) == 38


def test_txn_never_changes_start_tree(tree_cls: type, build: Build, check_tree: Check) -> None:
    t = build(tree_cls, SAMPLE)
    txn = t.txn()
    model = dict(SAMPLE)
    for k in KEYS:
        txn.insert(k, "new")
        txn.insert(k + b"/child", "child")
        model[k] = "new"
        model[k + b"/child"] = "child"
    txn.delete(b"abc1")
    assert txn.delete_prefix(b"foo") == 6
    txn.delete(b"")
    model = {k: v for k, v in model.items() if k not in (b"abc1", b"") and not k.startswith(b"foo")}
    check_tree(t, SAMPLE)
    snap = txn.snapshot()
    txn.delete_prefix(b"")
    check_tree(t, SAMPLE)
    txn.commit()
    check_tree(t, SAMPLE)
    check_tree(snap, model)


def test_commit_returns_new_tree(tree_cls: type, build: Build, check_tree: Check) -> None:
    t0 = build(tree_cls, {b"a": 1})
    txn = t0.txn()
    txn.insert(b"b", 2)
    t1 = txn.commit()
    assert isinstance(t1, tree_cls)
    assert t1 is not t0
    check_tree(t1, {b"a": 1, b"b": 2})
    check_tree(t0, {b"a": 1})


def test_txn_usable_after_commit(tree_cls: type, check_tree: Check) -> None:
    txn = tree_cls().txn()
    first = {b"key%04d" % i: i for i in range(500)}
    for k, v in first.items():
        txn.insert(k, v)
    t1 = txn.commit()
    # Writes after the commit go to nodes t1 shares: they must be copied, not written in place.
    second = dict(first)
    for i in range(0, 500, 3):
        k = b"key%04d" % i
        assert txn.insert(k, -i) == i
        second[k] = -i
    for i in range(1, 500, 7):
        assert txn.delete(b"key%04d" % i) == second.pop(b"key%04d" % i)
    assert txn.delete_prefix(b"key02") == len([k for k in second if k.startswith(b"key02")])
    second = {k: v for k, v in second.items() if not k.startswith(b"key02")}
    txn.insert(b"key", "short")
    second[b"key"] = "short"
    t2 = txn.commit()
    check_tree(t1, first, probes=[b"", b"key01", b"key0250", b"key"])
    check_tree(t2, second, probes=[b"", b"key01", b"key0250", b"key"])
    # A commit without changes gives a tree with the same contents; the txn keeps going.
    t3 = txn.commit()
    assert list(t3.items()) == list(t2.items())
    txn.insert(b"zzz", 1)
    t4 = txn.commit()
    assert len(t4) == len(second) + 1
    assert len(t3) == len(second)


def test_abort(tree_cls: type, build: Build, check_tree: Check) -> None:
    t = build(tree_cls, SAMPLE)
    txn = t.txn()
    txn.insert(b"new", 1)
    txn.delete(b"a")
    txn.delete_prefix(b"foo")
    txn.abort()
    assert len(txn) == len(KEYS)
    assert b"new" not in txn
    assert txn.get(b"a") == SAMPLE[b"a"]
    check_tree(txn.commit(), SAMPLE)
    check_tree(t, SAMPLE)


def test_abort_returns_to_last_commit(tree_cls: type, check_tree: Check) -> None:
    txn = tree_cls().txn()
    txn.insert(b"a", 1)
    t1 = txn.commit()
    txn.insert(b"b", 2)
    txn.delete(b"a")
    snap = txn.snapshot()
    txn.insert(b"c", 3)
    txn.abort()
    assert len(txn) == 1
    assert txn.get(b"a") == 1
    assert b"b" not in txn
    check_tree(txn.snapshot(), {b"a": 1})
    check_tree(snap, {b"b": 2})
    check_tree(t1, {b"a": 1})
    # and the txn keeps working from there
    txn.insert(b"d", 4)
    check_tree(txn.commit(), {b"a": 1, b"d": 4})


def test_snapshot_isolation(tree_cls: type, check_tree: Check) -> None:
    txn = tree_cls().txn()
    model: dict[bytes, Any] = {}
    snaps = []
    rng = random.Random(1)
    for round_ in range(6):
        for _ in range(200):
            k = bytes(rng.choice(b"ab\x00\xff") for _ in range(rng.randrange(7)))
            op = rng.random()
            if op < 0.6:
                txn.insert(k, round_)
                model[k] = round_
            elif op < 0.9:
                assert txn.delete(k) == model.pop(k, None)
            else:
                p = k[:2]
                n = txn.delete_prefix(p)
                gone = [x for x in model if x.startswith(p)]
                assert n == len(gone)
                for x in gone:
                    del model[x]
        snaps.append((txn.snapshot(), dict(model)))
        if round_ == 3:
            txn.commit()
    for snap, expected in snaps:
        check_tree(snap, expected)
    check_tree(txn.commit(), model)


def test_snapshot_of_unchanged_txn(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, {b"a": 1})
    txn = t.txn()
    s1 = txn.snapshot()
    s2 = txn.snapshot()
    txn.insert(b"a", 2)
    assert s1[b"a"] == 1
    assert s2[b"a"] == 1
    assert t[b"a"] == 1
    assert txn.commit()[b"a"] == 2


def test_txn_from_snapshot(tree_cls: type, check_tree: Check) -> None:
    txn = tree_cls().txn()
    txn.insert(b"a", 1)
    snap = txn.snapshot()
    txn2 = snap.txn()
    txn2.insert(b"a", 2)
    txn2.insert(b"b", 2)
    txn.insert(b"a", 3)
    txn.insert(b"c", 3)
    check_tree(snap, {b"a": 1})
    check_tree(txn2.commit(), {b"a": 2, b"b": 2})
    check_tree(txn.commit(), {b"a": 3, b"c": 3})


def test_two_txns_from_one_tree_are_independent(tree_cls: type, build: Build, check_tree: Check) -> None:
    t = build(tree_cls, SAMPLE)
    txn1, txn2 = t.txn(), t.txn()
    del t  # the two txns now share every node; neither may write the other's
    gc.collect()
    for k in KEYS:
        txn1.insert(k, "one")
    txn2.delete_prefix(b"a")
    txn2.insert(b"abc1", "two")
    check_tree(txn1.commit(), dict.fromkeys(KEYS, "one"))
    expected = {k: v for k, v in SAMPLE.items() if not k.startswith(b"a")}
    expected[b"abc1"] = "two"
    check_tree(txn2.commit(), expected)


@pytest.mark.parametrize(
    ("keys", "merge_by", "then"),
    [
        # the merged child has children: the merged node must not share its lists with the old child
        ([b"a/x1", b"a/x2", b"a/y"], ("delete", b"a/y"), [("insert", b"a/x3"), ("delete", b"a/x1")]),
        ([b"a/x1", b"a/x2", b"a/y"], ("delete", b"a/y"), [("insert", b"a/x"), ("insert", b"a/x0")]),
        ([b"a/x1", b"a/x2", b"a/y1", b"a/y2"], ("delete_prefix", b"a/y"), [("insert", b"a/x\xff")]),
        # the node losing its leaf merges with its only child
        ([b"ab", b"abc1", b"abc2"], ("delete", b"ab"), [("insert", b"abc3"), ("delete", b"abc2")]),
        ([b"", b"a", b"ab"], ("delete", b"a"), [("insert", b"abc"), ("insert", b"ab\x00")]),
    ],
)
def test_txn_writes_after_merge_leave_start_tree_alone(
    tree_cls: type,
    build: Build,
    check_tree: Check,
    keys: list[bytes],
    merge_by: tuple[str, bytes],
    then: list[tuple[str, bytes]],
) -> None:
    t = build(tree_cls, keys)
    model = {k: k for k in keys}
    txn = t.txn()
    expected = dict(model)
    for op, key in [merge_by, *then]:
        if op == "insert":
            txn.insert(key, b"new")
            expected[key] = b"new"
        elif op == "delete":
            txn.delete(key)
            expected.pop(key, None)
        else:
            txn.delete_prefix(key)
            expected = {k: v for k, v in expected.items() if not k.startswith(key)}
        check_tree(t, model)
    check_tree(txn.commit(), expected)
    check_tree(t, model)


def test_tree_write_methods_return_new_trees(tree_cls: type, build: Build, check_tree: Check) -> None:
    t = build(tree_cls, SAMPLE)
    t2 = t.insert(b"abc3", "x")
    assert isinstance(t2, tree_cls)
    check_tree(t2, {**SAMPLE, b"abc3": "x"})
    t3 = t2.insert(bytearray(b"a"), "replaced")
    check_tree(t3, {**SAMPLE, b"abc3": "x", b"a": "replaced"})
    t4 = t3.delete(b"ab")
    t5 = t4.delete(b"ab")  # absent: same contents
    expected = {**SAMPLE, b"abc3": "x", b"a": "replaced"}
    del expected[b"ab"]
    check_tree(t4, expected)
    check_tree(t5, expected)
    t6 = t5.delete_prefix(b"abc")
    expected = {k: v for k, v in expected.items() if not k.startswith(b"abc")}
    check_tree(t6, expected)
    check_tree(t6.delete_prefix(b"nope"), expected)
    check_tree(t6.delete_prefix(b""), {})
    check_tree(t, SAMPLE)
    check_tree(t2, {**SAMPLE, b"abc3": "x"})


# ------------------------------------------------------------------------------------------- iteration


PREFIXES = [
    b"",
    b"\x00",
    b"\x00\x00",
    b"a",
    b"ab",
    b"abc",
    b"abc1",
    b"abc12",
    b"abe",
    b"b",
    b"f",
    b"foo/",
    b"foo/b",
    b"foo/qux",
    b"foo/qux/1",
    b"foo/qux/1/",
    b"g",
    b"\xff",
    b"\xff\xff",
    b"\xff\xff\xff",
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_items_keys_values_with_prefix_and_reverse(tree_cls: type, build: Build, prefix: bytes) -> None:
    t = build(tree_cls, SAMPLE)
    expected = [(k, v) for k, v in sorted(SAMPLE.items()) if k.startswith(prefix)]
    assert list(t.items(prefix)) == expected
    assert list(t.items(prefix=prefix)) == expected
    assert list(t.items(prefix, reverse=True)) == expected[::-1]
    assert list(t.items(prefix, True)) == expected[::-1]
    assert list(t.keys(prefix)) == [k for k, _ in expected]
    assert list(t.keys(prefix=prefix, reverse=True)) == [k for k, _ in reversed(expected)]
    assert list(t.values(prefix)) == [v for _, v in expected]
    assert list(t.values(prefix=prefix, reverse=True)) == [v for _, v in reversed(expected)]


def test_items_default_arguments(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, SAMPLE)
    expected = sorted(SAMPLE.items())
    assert list(t.items()) == expected
    assert list(t.items(reverse=True)) == expected[::-1]
    assert list(t.keys()) == [k for k, _ in expected]
    assert list(t.keys(reverse=True)) == [k for k, _ in reversed(expected)]
    assert list(t.values()) == [v for _, v in expected]
    assert list(t.values(reverse=True)) == [v for _, v in reversed(expected)]
    for item in t.items():
        assert type(item) is tuple
        assert len(item) == 2


def test_iter_yields_keys_ascending(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, SAMPLE)
    assert list(iter(t)) == sorted(KEYS)
    assert list(t) == sorted(KEYS)
    it = iter(t)
    assert next(it) == b""
    assert next(it) == b"\x00"


def test_iterators_are_independent_and_lazy(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, SAMPLE)
    a, b = t.items(), t.items()
    assert next(a) == (b"", 0)
    assert next(a) == (b"\x00", 1)
    assert next(b) == (b"", 0)
    assert list(a) == sorted(SAMPLE.items())[2:]
    assert list(a) == []
    assert next(b, None) == (b"\x00", 1)


SEEK_CASES = [
    b"",  # before everything (b"" itself is stored)
    b"\x00",  # exact hit
    b"\x00\x01",  # between \x00\x00 and \x00\xff
    b"\x00\xff\x00",  # just after \x00\xff
    b"\x01",  # between \x00\xff and a
    b"a",  # exact hit on a node with children
    b"a\x00",  # between a and ab
    b"abc",  # between ab and abc1 (inside an edge)
    b"abc1",
    b"abc10",
    b"abc3",  # between abc2 and abd
    b"abcz",
    b"abd\x00",
    b"az",
    b"ba",
    b"bz",
    b"c",
    b"foo",
    b"foo/bar",
    b"foo/bb",
    b"foo/qux",
    b"foo/qux/1/2",
    b"foo/r",
    b"\xfe",
    b"\xff",
    b"\xff\x00\x00",
    b"\xff\x01",
    b"\xff\xff",
    b"\xff\xff\x00",  # after the last key
    b"\xff\xff\xff\xff",
]


@pytest.mark.parametrize("key", SEEK_CASES)
def test_seek_lower_bound(tree_cls: type, build: Build, key: bytes) -> None:
    t = build(tree_cls, SAMPLE)
    expected = [(k, v) for k, v in sorted(SAMPLE.items()) if k >= key]
    assert list(t.seek_lower_bound(key)) == expected
    assert list(itertools.islice(t.seek_lower_bound(key), 2)) == expected[:2]


@pytest.mark.parametrize("key", SEEK_CASES)
def test_seek_reverse_lower_bound(tree_cls: type, build: Build, key: bytes) -> None:
    t = build(tree_cls, SAMPLE)
    expected = [(k, v) for k, v in sorted(SAMPLE.items(), reverse=True) if k <= key]
    assert list(t.seek_reverse_lower_bound(key)) == expected
    assert list(itertools.islice(t.seek_reverse_lower_bound(key), 2)) == expected[:2]


def test_seek_without_empty_key(tree_cls: type, build: Build) -> None:
    keys = [b"b", b"bb", b"bc", b"d"]
    t = build(tree_cls, keys)
    assert list(t.seek_reverse_lower_bound(b"")) == []
    assert list(t.seek_reverse_lower_bound(b"a")) == []  # before the first key
    assert list(t.seek_reverse_lower_bound(b"b")) == [(b"b", b"b")]
    assert list(t.keys()) == keys
    assert [k for k, _ in t.seek_reverse_lower_bound(b"ba")] == [b"b"]
    assert [k for k, _ in t.seek_reverse_lower_bound(b"bb\x00")] == [b"bb", b"b"]
    assert [k for k, _ in t.seek_reverse_lower_bound(b"c")] == [b"bc", b"bb", b"b"]
    assert [k for k, _ in t.seek_reverse_lower_bound(b"e")] == [b"d", b"bc", b"bb", b"b"]  # after the last
    assert [k for k, _ in t.seek_lower_bound(b"")] == keys
    assert [k for k, _ in t.seek_lower_bound(b"a")] == keys
    assert [k for k, _ in t.seek_lower_bound(b"b\x00")] == [b"bb", b"bc", b"d"]
    assert [k for k, _ in t.seek_lower_bound(b"bd")] == [b"d"]
    assert list(t.seek_lower_bound(b"d\x00")) == []  # after the last key


def test_seek_on_empty_tree(tree_cls: type) -> None:
    t = tree_cls()
    for key in [b"", b"a", b"\xff"]:
        assert list(t.seek_lower_bound(key)) == []
        assert list(t.seek_reverse_lower_bound(key)) == []
    emptied = tree_cls().insert(b"a", 1).delete(b"a")
    assert list(emptied.seek_lower_bound(b"")) == []
    assert list(emptied.seek_reverse_lower_bound(b"\xff")) == []


def test_seek_single_key(tree_cls: type) -> None:
    t = tree_cls().insert(b"m", 1)
    assert list(t.seek_lower_bound(b"m")) == [(b"m", 1)]
    assert list(t.seek_lower_bound(b"l")) == [(b"m", 1)]
    assert list(t.seek_lower_bound(b"m\x00")) == []
    assert list(t.seek_reverse_lower_bound(b"m")) == [(b"m", 1)]
    assert list(t.seek_reverse_lower_bound(b"n")) == [(b"m", 1)]
    assert list(t.seek_reverse_lower_bound(b"l\xff")) == []
    only_empty = tree_cls().insert(b"", 0)
    assert list(only_empty.seek_lower_bound(b"")) == [(b"", 0)]
    assert list(only_empty.seek_lower_bound(b"\x00")) == []
    assert list(only_empty.seek_reverse_lower_bound(b"")) == [(b"", 0)]
    assert list(only_empty.seek_reverse_lower_bound(b"\xff")) == [(b"", 0)]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"", [b""]),
        (b"a", [b"", b"a"]),
        (b"ab", [b"", b"a", b"ab"]),
        (b"abc", [b"", b"a", b"ab"]),
        (b"abc1", [b"", b"a", b"ab", b"abc1"]),
        (b"abc1xyz", [b"", b"a", b"ab", b"abc1"]),
        (b"abd", [b"", b"a", b"ab", b"abd"]),
        (b"az", [b"", b"a"]),
        (b"foo/bar/x", [b"", b"foo/bar"]),
        (b"foo/", [b""]),
        (b"\x00\xff\x00", [b"", b"\x00", b"\x00\xff"]),
        (b"\xff\xff\xff", [b"", b"\xff", b"\xff\xff"]),
        (b"zzz", [b""]),
    ],
)
def test_walk_path(tree_cls: type, build: Build, key: bytes, expected: list[bytes]) -> None:
    t = build(tree_cls, SAMPLE)
    assert list(t.walk_path(key)) == [(k, SAMPLE[k]) for k in expected]
    without_root = t.delete(b"")
    assert list(without_root.walk_path(key)) == [(k, SAMPLE[k]) for k in expected if k]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"", b""),
        (b"a", b"a"),
        (b"abc", b"ab"),
        (b"abc2", b"abc2"),
        (b"abc2\x00", b"abc2"),
        (b"abd", b"abd"),
        (b"b\xff", b"b"),
        (b"foo/ba", b""),
        (b"foo/qux/12", b"foo/qux/1"),
        (b"\xff\x00\x00", b"\xff\x00"),
        (b"c", b""),
    ],
)
def test_longest_prefix(tree_cls: type, build: Build, key: bytes, expected: bytes) -> None:
    t = build(tree_cls, SAMPLE)
    assert t.longest_prefix(key) == (expected, SAMPLE[expected])
    without_root = t.delete(b"")
    if expected:
        assert without_root.longest_prefix(key) == (expected, SAMPLE[expected])
    else:
        assert without_root.longest_prefix(key) is None


def test_minimum_maximum(tree_cls: type, build: Build) -> None:
    t = build(tree_cls, SAMPLE)
    assert t.minimum() == (b"", 0)
    assert t.maximum() == (b"\xff\xff", SAMPLE[b"\xff\xff"])
    t = t.delete(b"").delete_prefix(b"\xff")
    assert t.minimum() == (b"\x00", SAMPLE[b"\x00"])
    assert t.maximum() == (b"foo/qux/1", SAMPLE[b"foo/qux/1"])
    single = tree_cls().insert(b"only", None)
    assert single.minimum() == (b"only", None)
    assert single.maximum() == (b"only", None)
    # the maximum may be a leaf with no children below a node that has a leaf itself
    chain = tree_cls().insert(b"a", 1).insert(b"ab", 2)
    assert chain.minimum() == (b"a", 1)
    assert chain.maximum() == (b"ab", 2)


def test_all_read_forms_on_random_trees(tree_cls: type, build: Build, check_tree: Check) -> None:
    rng = random.Random(42)
    for size in [1, 2, 3, 10, 60]:
        keys = [bytes(rng.choice(b"\x00ab\xff") for _ in range(rng.randrange(6))) for _ in range(size)]
        data = {k: rng.random() for k in keys}
        check_tree(build(tree_cls, data), data)


# --------------------------------------------------------------------------------------- keys & values


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_bytes_like_keys_accepted(tree_cls: type, wrap: Callable[[bytes], Any]) -> None:
    def w(b: bytes) -> Any:
        return wrap(b)

    txn = tree_cls().txn()
    assert txn.insert(w(b"abc"), 1) is None
    assert txn.insert(w(b"abd"), 2) is None
    assert txn.insert(w(b"abc"), 3) == 1
    assert w(b"abc") in txn
    assert txn[w(b"abc")] == 3
    assert txn.get(w(b"abd")) == 2
    assert txn.delete(w(b"abd")) == 2
    txn.insert(w(b"x1"), 1)
    txn.insert(w(b"x2"), 2)
    assert txn.delete_prefix(w(b"x")) == 2
    t = txn.commit()
    assert w(b"abc") in t
    assert t[w(b"abc")] == 3
    assert t.get(w(b"abc")) == 3
    assert list(t.items(w(b"ab"))) == [(b"abc", 3)]
    assert list(t.keys(w(b"a"), reverse=True)) == [b"abc"]
    assert list(t.values(w(b"a"))) == [3]
    assert list(t.seek_lower_bound(w(b"ab"))) == [(b"abc", 3)]
    assert list(t.seek_reverse_lower_bound(w(b"b"))) == [(b"abc", 3)]
    assert list(t.walk_path(w(b"abcd"))) == [(b"abc", 3)]
    assert t.longest_prefix(w(b"abcd")) == (b"abc", 3)
    t2 = t.insert(w(b"k"), 0).delete(w(b"abc"))
    assert list(t2) == [b"k"]
    assert len(t2.delete_prefix(w(b"k"))) == 0
    for key in itertools.chain(t.insert(w(b"zz"), 0), t.keys(), (k for k, _ in t.items())):
        assert type(key) is bytes


def test_memoryview_slices(tree_cls: type) -> None:
    buf = bytearray(b"__key__")
    t = tree_cls().insert(memoryview(buf)[2:5], 1)
    assert list(t) == [b"key"]
    assert t[b"key"] == 1
    assert t[memoryview(b"xkeyx")[1:4]] == 1
    assert list(t.items(memoryview(b"xk")[1:])) == [(b"key", 1)]
    t = t.insert(memoryview(bytearray(b"__"))[2:], 0)  # an empty slice is the empty key
    assert list(t) == [b"", b"key"]


def test_inserted_key_is_copied(tree_cls: type) -> None:
    buf = bytearray(b"abc")
    txn = tree_cls().txn()
    txn.insert(buf, 1)
    view = memoryview(buf)
    txn.insert(view[:2], 2)
    view.release()
    buf[0] = ord("x")  # would fail if the tree still exported the buffer; must not change the stored key
    buf.extend(b"123")
    t = txn.commit()
    assert list(t) == [b"ab", b"abc"]
    assert b"xbc" not in t
    assert t[b"abc"] == 1


@pytest.mark.parametrize(
    "bad",
    ["abc", "", 3, 0, None, 1.5, [97], (97,), object()],
    ids=["str", "empty-str", "int", "zero", "None", "float", "list", "tuple", "object"],
)
def test_non_buffer_keys_raise_typeerror(tree_cls: type, build: Build, bad: Any) -> None:
    t = build(tree_cls, {b"abc": 1, b"": 0})
    txn = t.txn()
    calls: list[Callable[[], Any]] = [
        lambda: bad in t,
        lambda: t[bad],
        lambda: t.get(bad),
        lambda: t.get(bad, 1),
        lambda: t.insert(bad, 1),
        lambda: t.delete(bad),
        lambda: t.delete_prefix(bad),
        lambda: list(t.items(bad)),
        lambda: list(t.keys(bad)),
        lambda: list(t.values(bad)),
        lambda: list(t.seek_lower_bound(bad)),
        lambda: list(t.seek_reverse_lower_bound(bad)),
        lambda: list(t.walk_path(bad)),
        lambda: t.longest_prefix(bad),
        lambda: t.watch(bad),
        lambda: t.watch_prefix(bad),
        lambda: txn.insert(bad, 1),
        lambda: txn.delete(bad),
        lambda: txn.delete_prefix(bad),
        lambda: txn.get(bad),
        lambda: txn[bad],
        lambda: bad in txn,
    ]
    for i, call in enumerate(calls):
        with pytest.raises(TypeError):
            call()
            pytest.fail(f"call #{i} accepted {bad!r}")
    # nothing was changed by the rejected calls
    assert len(txn) == 2
    assert dict(txn.commit().items()) == {b"abc": 1, b"": 0}


def test_nul_and_ff_bytes(tree_cls: type, check_tree: Check) -> None:
    keys = [
        b"\x00",
        b"\x00\x00",
        b"\x00\x00\x00",
        b"a\x00b",
        b"a\x00c",
        b"a\x00",
        b"a",
        b"a\xff",
        b"a\xff\xff",
        b"\xff",
        b"\xff\x00",
        b"\x7f",
        b"\x80",
        b"\xfe\xff",
        b"\x00\xff\x00",
    ]
    data = {k: k.hex() for k in keys}
    t = tree_cls()
    for k in keys:  # one txn per key: the unsorted order exercises splits at NUL/0xff bytes
        t = t.insert(k, k.hex())
    assert list(t) == sorted(keys)  # unsigned byte order: 0x7f < 0x80 < 0xff
    check_tree(t, data)
    assert t[b"a\x00"] == "6100"
    assert b"a\x00\x00" not in t
    assert list(t.keys(b"a\x00")) == [b"a\x00", b"a\x00b", b"a\x00c"]
    txn = t.txn()
    assert txn.delete_prefix(b"\x00") == 4
    assert txn.delete(b"a\x00") == "6100"
    rest = {k: v for k, v in data.items() if not k.startswith(b"\x00") and k != b"a\x00"}
    check_tree(txn.commit(), rest)


def test_empty_key(tree_cls: type, check_tree: Check) -> None:
    t = tree_cls().insert(b"", "root")
    check_tree(t, {b"": "root"})
    assert t[b""] == "root"
    assert list(t.walk_path(b"anything")) == [(b"", "root")]
    assert t.longest_prefix(b"xyz") == (b"", "root")
    t2 = t.insert(b"a", 1).insert(b"b", 2)
    check_tree(t2, {b"": "root", b"a": 1, b"b": 2})
    txn = t2.txn()
    assert txn.insert(b"", "new root") == "root"
    assert txn.delete(b"") == "new root"
    assert b"" not in txn
    assert txn.delete(b"") is None
    t3 = txn.commit()
    check_tree(t3, {b"a": 1, b"b": 2})
    check_tree(t2, {b"": "root", b"a": 1, b"b": 2})
    assert t2.delete_prefix(b"").get(b"") is None
    assert len(t2.delete_prefix(b"")) == 0
    assert t2.txn().delete_prefix(b"") == 3


def test_64k_keys(tree_cls: type, check_tree: Check) -> None:
    big = b"k" * 65536
    keys = [
        big,
        big + b"\x00",
        big + b"x" * 70000,
        big[:-1] + b"j",  # diverges at the last byte of a 64 KiB common prefix
        big[:-1] + b"l",
        big[:40000],
        bytes(range(256)) * 300,  # 76800 bytes, every byte value
        b"\xff" * 65537,
    ]
    data = {k: len(k) for k in keys}
    txn = tree_cls().txn()
    for k in keys:
        txn.insert(k, len(k))
    t = txn.commit()
    assert len(t) == len(keys)
    assert list(t) == sorted(keys)
    probes = [b"", big, big[:-1], big[:-1] + b"z", big + b"x", b"k" * 70000, b"\xff" * 65536, b"\xff" * 65538]
    check_tree(t, data, probes=probes)
    assert t.longest_prefix(big + b"x" * 80000) == (big + b"x" * 70000, 135536)
    assert [len(k) for k, _ in t.walk_path(big + b"\x00")] == [40000, 65536, 65537]
    t2 = t.delete(big)
    del data[big]
    check_tree(t2, data, probes=probes)
    assert t2.txn().delete_prefix(b"k" * 50000) == 4


CHAIN = 4000  # deeper than the Python recursion limit: a recursive walk would raise RecursionError


@pytest.mark.slow
def test_deep_chain_of_nested_keys(tree_cls: type) -> None:
    keys = [b"a" * n for n in range(1, CHAIN + 1)]
    txn = tree_cls().txn()
    for k in keys:
        txn.insert(k, len(k))
    t = txn.commit()
    # the other insertion order: every insert splits the deepest edge
    txn = tree_cls().txn()
    for k in reversed(keys):
        txn.insert(k, len(k))
    t_rev = txn.commit()
    for tree in (t, t_rev):
        assert len(tree) == CHAIN
        assert list(tree) == keys
        assert [v for _, v in tree.items(reverse=True)] == list(range(CHAIN, 0, -1))
        assert [v for _, v in tree.walk_path(b"a" * (CHAIN + 5))] == list(range(1, CHAIN + 1))
        assert tree.longest_prefix(b"a" * CHAIN + b"b") == (keys[-1], CHAIN)
        assert tree.minimum() == (b"a", 1)
        assert tree.maximum() == (keys[-1], CHAIN)
        assert next(tree.seek_lower_bound(b"a" * 2000 + b"\x00")) == (b"a" * 2001, 2001)
        assert next(tree.seek_reverse_lower_bound(b"a" * 2000 + b"\x00")) == (b"a" * 2000, 2000)
        assert list(tree.seek_reverse_lower_bound(b"b"))[-1] == (b"a", 1)
        assert tree.get(b"a" * 3999) == 3999
    # delete every other key (each delete merges a node into its child), then the rest via delete_prefix
    txn = t.txn()
    for k in keys[::2]:
        assert txn.delete(k) == len(k)
    t2 = txn.commit()
    assert list(t2) == keys[1::2]
    assert t2.txn().delete_prefix(b"aaa") == CHAIN // 2 - 1
    assert len(t2.delete_prefix(b"a")) == 0
    assert len(t) == CHAIN
    del t, t_rev, t2, txn  # freeing the deep chain must not overflow the C stack either
    gc.collect()


def test_none_values(tree_cls: type) -> None:
    txn = tree_cls().txn()
    assert txn.insert(b"n", None) is None
    assert b"n" in txn
    assert txn[b"n"] is None
    assert txn.get(b"n", "default") is None
    assert len(txn) == 1
    assert txn.insert(b"n", None) is None
    txn.insert(b"m", None)
    t = txn.commit()
    assert b"n" in t
    assert t[b"n"] is None
    assert t.get(b"n", "default") is None
    assert list(t.items()) == [(b"m", None), (b"n", None)]
    assert list(t.values()) == [None, None]
    assert t.minimum() == (b"m", None)
    assert t.longest_prefix(b"nn") == (b"n", None)
    assert list(t.walk_path(b"n")) == [(b"n", None)]
    txn = t.txn()
    assert txn.delete(b"n") is None
    assert b"n" not in txn
    assert txn.delete_prefix(b"m") == 1
    assert len(txn) == 0


def test_full_fanout(tree_cls: type, check_tree: Check) -> None:
    # every byte value as a label, at the root and one level down (catches signed-char comparisons)
    data = {bytes([b]): b for b in range(256)}
    data.update({bytes([b, c]): b * 256 + c for b in (0x00, 0x7F, 0x80, 0xFF) for c in range(256)})
    order = list(data)
    random.Random(3).shuffle(order)
    txn = tree_cls().txn()
    for k in order:
        txn.insert(k, data[k])
    t = txn.commit()
    assert list(t) == sorted(data)
    probes = [b"", *(bytes([b]) for b in range(256)), b"\x7f\x80", b"\x80\x7f", b"\xff\xff\xff", b"\x00\x00\x00"]
    check_tree(t, data, probes=probes)
    txn = t.txn()
    for b in range(0, 256, 2):
        assert txn.delete(bytes([b])) == b
    assert txn.delete_prefix(b"\x80") == 256
    rest = {k: v for k, v in data.items() if not (len(k) == 1 and k[0] % 2 == 0) and not k.startswith(b"\x80")}
    check_tree(txn.commit(), rest, probes=probes)


# ------------------------------------------------------------------------------------------- isolation


def test_old_trees_unchanged_after_commits(tree_cls: type, check_tree: Check) -> None:
    rng = random.Random(7)
    history: list[tuple[Any, dict[bytes, Any]]] = []
    model: dict[bytes, Any] = {}
    t = tree_cls()
    for step in range(120):
        k = bytes(rng.choice(b"ab\x00\xff") for _ in range(rng.randrange(5)))
        r = rng.random()
        if r < 0.5:
            t = t.insert(k, step)
            model[k] = step
        elif r < 0.8:
            t = t.delete(k)
            model.pop(k, None)
        elif r < 0.9:
            t = t.delete_prefix(k[:1])
            model = {x: v for x, v in model.items() if not x.startswith(k[:1])}
        else:
            txn = t.txn()
            for _ in range(10):
                k = bytes(rng.choice(b"ab\x00\xff") for _ in range(rng.randrange(5)))
                txn.insert(k, -step)
                model[k] = -step
            t = txn.commit()
        history.append((t, dict(model)))
    for tree, expected in history:
        check_tree(tree, expected, probes=[b"", b"a", b"ab", b"\x00", b"\xff", b"b\xff"])


def test_iterator_isolated_from_later_commits(tree_cls: type) -> None:
    data = {b"key%05d" % i: i for i in range(3000)}
    txn = tree_cls().txn()
    for k, v in data.items():
        txn.insert(k, v)
    t = txn.commit()
    expected = sorted(data.items())
    forward, backward = t.items(), t.items(reverse=True)
    prefixed, seek = t.items(b"key01"), t.seek_lower_bound(b"key00500")
    rseek, walk = t.seek_reverse_lower_bound(b"key02500"), t.walk_path(b"key00001")
    got_fwd = list(itertools.islice(forward, 1500))
    got_bwd = list(itertools.islice(backward, 1500))
    got_pre = list(itertools.islice(prefixed, 500))
    got_seek = list(itertools.islice(seek, 100))
    got_rseek = list(itertools.islice(rseek, 100))
    # The txn now writes all over the nodes the iterators are walking: replace, delete, split, merge.
    for i in range(0, 3000, 2):
        txn.insert(b"key%05d" % i, "changed")
    for i in range(1, 3000, 3):
        txn.delete(b"key%05d" % i)
    txn.delete_prefix(b"key01")
    txn.insert(b"key0", "split")
    txn.insert(b"key00001x", "new")
    t2 = txn.commit()
    txn.delete_prefix(b"")
    txn.commit()
    del t  # iterators must keep their tree alive
    gc.collect()
    assert got_fwd + list(forward) == expected
    assert got_bwd + list(backward) == expected[::-1]
    assert got_pre + list(prefixed) == [(k, v) for k, v in expected if k.startswith(b"key01")]
    assert got_seek + list(seek) == [(k, v) for k, v in expected if k >= b"key00500"]
    assert got_rseek + list(rseek) == [(k, v) for k, v in reversed(expected) if k <= b"key02500"]
    assert list(walk) == [(b"key00001", 1)]
    assert t2[b"key0"] == "split"


def test_iterator_over_snapshot_survives_txn_writes(tree_cls: type) -> None:
    txn = tree_cls().txn()
    for i in range(1000):
        txn.insert(b"%04d" % i, i)
    snap = txn.snapshot()
    it = snap.items()
    rit = snap.items(reverse=True)
    keys_it = iter(snap)
    vals = snap.values(b"05")
    head = [next(it) for _ in range(400)]
    rhead = [next(rit) for _ in range(400)]
    khead = [next(keys_it) for _ in range(400)]
    vhead = [next(vals) for _ in range(50)]
    del snap  # only the iterators hold the snapshot now; the txn must still not write its nodes in place
    gc.collect()
    for i in range(1000):
        txn.insert(b"%04d" % i, -i)
    txn.delete_prefix(b"03")
    txn.delete_prefix(b"07")
    for i in range(1000, 1100):
        txn.insert(b"%04d" % i, i)
    expected = [(b"%04d" % i, i) for i in range(1000)]
    assert head + list(it) == expected
    assert rhead + list(rit) == expected[::-1]
    assert khead + list(keys_it) == [k for k, _ in expected]
    assert vhead + list(vals) == list(range(500, 600))
    assert txn.commit()[b"0001"] == -1


def test_tree_outlived_by_its_iterator(tree_cls: type, build: Build) -> None:
    its = []
    for _ in range(3):
        t = build(tree_cls, {b"k%d" % i: i for i in range(100)})
        its.append(t.items())
        its.append(t.seek_reverse_lower_bound(b"k5"))
        its.append(t.walk_path(b"k99"))
        del t
    gc.collect()
    for _ in range(3):
        assert len(list(its.pop(0))) == 100
        assert len(list(its.pop(0))) == len([i for i in range(100) if b"k%d" % i <= b"k5"])
        assert list(its.pop(0)) == [(b"k9", 9), (b"k99", 99)]


# ------------------------------------------------------------------------------------ reference counts


def _settle() -> None:
    gc.collect()
    gc.collect()


def _refcounts(objs: list[Any]) -> list[int]:
    """The reference counts of ``objs``, always measured the same way so that two calls compare."""
    return [sys.getrefcount(o) for o in objs]


class Val:
    """A value whose refcount we can watch (not interned, not cached)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Val({self.n})"


def test_refcount_insert_then_drop(tree_cls: type) -> None:
    v = Val(1)
    key = b"".join([b"refcount-", b"key"])  # a fresh bytes object, not a constant
    base_v, base_k = sys.getrefcount(v), sys.getrefcount(key)
    txn = tree_cls().txn()
    txn.insert(key, v)
    snap = txn.snapshot()
    t = txn.commit()
    t2 = t.insert(b"other", v)
    assert t[key] is v
    del txn, snap, t, t2
    _settle()
    assert sys.getrefcount(v) == base_v
    assert sys.getrefcount(key) == base_k


def test_refcount_replace(tree_cls: type) -> None:
    v1, v2 = Val(1), Val(2)
    base1, base2 = sys.getrefcount(v1), sys.getrefcount(v2)
    txn = tree_cls().txn()
    txn.insert(b"k", v1)
    txn.insert(b"k", v2)  # replaced in a node the txn owns; the returned old value is dropped at once
    _settle()
    assert sys.getrefcount(v1) == base1
    txn.insert(b"k", v1)
    t1 = txn.commit()
    t2 = t1.insert(b"k", v2)  # replaced in a copy: t1 still holds v1
    assert t1[b"k"] is v1
    del t1
    _settle()
    assert sys.getrefcount(v1) > base1  # the txn keeps its last commit (for abort)
    txn.abort()
    del txn
    _settle()
    assert sys.getrefcount(v1) == base1
    assert t2[b"k"] is v2
    del t2
    _settle()
    assert sys.getrefcount(v2) == base2


def test_refcount_delete(tree_cls: type) -> None:
    vals = [Val(i) for i in range(50)]
    bases = _refcounts(vals)
    txn = tree_cls().txn()
    for i, v in enumerate(vals):
        txn.insert(b"k%02d" % i, v)
    del v
    t = txn.commit()
    for i in range(0, 50, 2):
        assert txn.delete(b"k%02d" % i) is vals[i]
    t2 = txn.commit()
    for i in range(1, 50, 2):
        txn.delete(b"k%02d" % i)
    assert len(txn) == 0
    del t
    _settle()
    now = _refcounts(vals)
    assert now[0::2] == bases[0::2]
    assert len(t2) == 25
    del t2
    _settle()
    assert _refcounts(vals)[1::2] != bases[1::2]  # the txn keeps its last commit (for abort)
    del txn
    _settle()
    assert _refcounts(vals) == bases


def test_refcount_delete_prefix(tree_cls: type) -> None:
    keys = [b"p/%03d" % i for i in range(200)] + [b"q"]
    vals = [Val(i) for i in range(len(keys))]
    bases = _refcounts(vals)
    txn = tree_cls().txn()
    for k, v in zip(keys, vals, strict=True):
        txn.insert(k, v)
    del v
    assert txn.delete_prefix(b"p/0") == 100  # in nodes the txn owns
    _settle()
    assert _refcounts(vals)[:100] == bases[:100]
    t = txn.commit()
    del txn
    assert t.delete_prefix(b"p/").txn().delete_prefix(b"") == 1
    t2 = t.delete_prefix(b"p/1")  # in shared nodes: t still holds the values until dropped
    assert _refcounts(vals)[100:200] != bases[100:200]
    del t
    _settle()
    assert _refcounts(vals)[:200] == bases[:200]
    assert len(t2) == 1
    del t2
    _settle()
    assert _refcounts(vals) == bases


def test_refcount_abort(tree_cls: type) -> None:
    keep, temp = Val(1), Val(2)
    base_keep, base_temp = sys.getrefcount(keep), sys.getrefcount(temp)
    txn = tree_cls().txn()
    txn.insert(b"keep", keep)
    t = txn.commit()
    for i in range(20):
        txn.insert(b"temp%d" % i, temp)
    txn.insert(b"keep", temp)
    txn.abort()  # the txn is alive but holds only t's contents again
    _settle()
    assert sys.getrefcount(temp) == base_temp
    txn.insert(b"x", temp)
    del txn  # dropping an uncommitted txn drops its changes too
    _settle()
    assert sys.getrefcount(temp) == base_temp
    assert t[b"keep"] is keep
    del t
    _settle()
    assert sys.getrefcount(keep) == base_keep


def test_refcount_iterators_dropped_midway(tree_cls: type) -> None:
    vals = [Val(i) for i in range(200)]
    bases = _refcounts(vals)
    txn = tree_cls().txn()
    for i, v in enumerate(vals):
        txn.insert(b"%03d" % i, v)
    del v
    t = txn.commit()
    del txn
    iterators = [
        t.items(),
        t.items(b"1", reverse=True),
        t.keys(),
        t.values(reverse=True),
        iter(t),
        t.seek_lower_bound(b"050"),
        t.seek_reverse_lower_bound(b"150"),
        t.walk_path(b"0999"),
    ]
    for it in iterators:
        for _ in range(2):
            next(it, None)
    del t, it
    _settle()
    assert _refcounts(vals)[100] > bases[100]  # still held through the iterators
    del iterators
    _settle()
    assert _refcounts(vals) == bases


def test_refcount_value_released_when_deleted_from_inner_node(tree_cls: type) -> None:
    # A deleted value must be released when the key's node stays (it has children) or is the root: the new tree
    # may not keep it alive.
    for key, others in [(b"a", [b"ab", b"ac"]), (b"a", [b"ab"]), (b"", [b"x"]), (b"ab", [b"abc", b"a"])]:
        v = Val(0)
        base = sys.getrefcount(v)
        txn = tree_cls().txn()
        txn.insert(key, v)
        for other in others:
            txn.insert(other, None)
        t = txn.commit()
        del txn
        for how in ["delete", "txn", "delete_prefix"]:
            if how == "delete":
                t2 = t.delete(key)
            elif how == "txn":
                txn = t.txn()
                txn.delete(key)
                t2 = txn.commit()
                del txn
            else:
                t2 = t.delete_prefix(b"")
            assert key not in t2
            held = sys.getrefcount(v)
            del t2
            _settle()
            assert sys.getrefcount(v) == held
        del t
        _settle()
        assert sys.getrefcount(v) == base, (key, others)
        # and with the tree dropped first: the value goes with the old tree, not with the new one
        t = tree_cls().insert(key, v)
        for other in others:
            t = t.insert(other, None)
        t2 = t.delete(key)
        del t
        _settle()
        assert sys.getrefcount(v) == base, (key, others)
        assert len(t2) == len(others)


def _random_operations(tree_cls: type, vals: list[Val], seed: int) -> None:
    rng = random.Random(seed)
    keys = [bytes(rng.choice(b"ab\x00") for _ in range(rng.randrange(5))) for _ in range(40)]
    trees: list[tuple[Any, dict[bytes, Val]]] = []
    iters: list[Any] = []
    model: dict[bytes, Val] = {}
    committed: dict[bytes, Val] = {}
    txn = tree_cls().txn()
    for _ in range(2000):
        r = rng.random()
        k, v = rng.choice(keys), rng.choice(vals)
        if r < 0.45:
            assert txn.insert(k, v) is model.get(k)
            model[k] = v
        elif r < 0.65:
            assert txn.delete(k) is model.pop(k, None)
        elif r < 0.7:
            p = k[:1]
            assert txn.delete_prefix(p) == sum(1 for x in model if x.startswith(p))
            model = {x: y for x, y in model.items() if not x.startswith(p)}
        elif r < 0.8:
            trees.append((txn.commit(), dict(model)))
            committed = dict(model)
        elif r < 0.85:
            txn.abort()
            model = dict(committed)
        elif r < 0.9:
            trees.append((txn.snapshot(), dict(model)))
        elif r < 0.95 and trees:
            it = rng.choice(trees)[0].items()
            next(it, None)
            iters.append(it)
        elif trees:
            trees.pop(rng.randrange(len(trees)))
        if len(iters) > 10:
            iters.pop(0)
    for tree, expected in trees:
        assert dict(tree.items()) == expected


def test_refcount_random_operations(tree_cls: type) -> None:
    vals = [Val(i) for i in range(40)]
    bases = _refcounts(vals)
    for seed in range(3):
        _random_operations(tree_cls, vals, seed)
        _settle()
        assert _refcounts(vals) == bases, seed


class Holder:
    """A value that refers back to the trees, txns or iterators holding it."""

    refs: tuple[Any, ...]


def _cycle_tree(tree_cls: type, h: Holder) -> None:
    h.refs = (tree_cls().insert(b"k", h),)


def _cycle_txn(tree_cls: type, h: Holder) -> None:
    txn = tree_cls().txn()
    txn.insert(b"k", h)
    h.refs = (txn,)


def _cycle_committed_txn(tree_cls: type, h: Holder) -> None:
    txn = tree_cls().txn()
    txn.insert(b"k", h)
    txn.commit()
    h.refs = (txn,)


def _cycle_snapshot(tree_cls: type, h: Holder) -> None:
    txn = tree_cls().txn()
    txn.insert(b"k", h)
    h.refs = (txn.snapshot(),)


def _cycle_iterator(tree_cls: type, h: Holder) -> None:
    h.refs = (tree_cls().insert(b"k", h).items(),)


@pytest.mark.parametrize(
    "make_cycle",
    [_cycle_tree, _cycle_txn, _cycle_committed_txn, _cycle_snapshot, _cycle_iterator],
    ids=lambda f: f.__name__.removeprefix("_cycle_"),
)
def test_reference_cycles_through_values_are_collected(
    tree_cls: type, make_cycle: Callable[[type, Holder], None]
) -> None:
    # A value that refers to what holds it forms a cycle the garbage collector must be able to break (the
    # README promises this for the C tree; Python containers generally support it).
    h = Holder()
    ref = weakref.ref(h)
    make_cycle(tree_cls, h)
    del h
    _settle()
    assert ref() is None


def test_cycle_through_a_shared_node_is_collected_once_unshared(tree_cls: type) -> None:
    # Two trees share the node holding h and h refers to both. The C tree reports to the collector only the values
    # its handle owns alone (reporting a shared node's value from every holder would count one reference twice,
    # which could free a live object), so this cycle lives while the sharing does. Once one tree is gone (here: h
    # drops it), the other owns the node alone and the cycle is collected. PyTree's nodes are Python objects, so
    # it collects both forms.
    h = Holder()
    ref = weakref.ref(h)
    t1 = tree_cls().insert(b"k", h)
    h.refs = (t1, t1.insert(b"other", 1))
    del t1
    h.refs = h.refs[:1]
    del h
    _settle()
    assert ref() is None


def test_refcount_of_lookup_results(tree_cls: type, build: Build) -> None:
    v = Val(0)
    base = sys.getrefcount(v)
    t = build(tree_cls, {b"a": v, b"ab": v})
    held = sys.getrefcount(v)
    for _ in range(100):
        t.get(b"a")
        t[b"ab"]
        t.longest_prefix(b"abc")
        t.minimum()
        t.maximum()
        list(t.items())
        list(t.walk_path(b"ab"))
        list(t.seek_lower_bound(b""))
        t.txn().get(b"a")
    _settle()
    assert sys.getrefcount(v) == held
    del t
    _settle()
    assert sys.getrefcount(v) == base


# ------------------------------------------------------------------------------------- reentrant values

# Runs in a subprocess, so that a crash fails one test instead of killing the run. A stored value's destructor
# runs whenever the tree drops the value, possibly in the middle of a txn operation; it may use the txn. The
# operation may refuse that (raise), but must not crash, and every tree must stay self-consistent.
REENTRANT_SCRIPT = """
import gc, sys
import raftstore.radix as radix

cls = getattr(radix, sys.argv[1])
op, action = sys.argv[2], sys.argv[3]
snaps = []

class V:
    def __init__(self, i):
        self.i = i

    def __del__(self):
        try:
            if action == "read":
                len(txn), txn.get(b"k0"), b"k1" in txn
            elif action == "snapshot":
                s = txn.snapshot()
                snaps.append((s, list(s.items())))
            else:
                txn.insert(b"del/%d" % self.i, self.i)
        except Exception as e:  # refusing is allowed
            print("refused:", repr(e))

def consistent(t):
    keys = list(t)
    assert keys == sorted(set(keys)), keys
    assert len(t) == len(keys), (len(t), keys)
    assert [k for k, _ in t.items(reverse=True)] == keys[::-1]
    return [k for k in keys if not k.startswith(b"del/")]

n = 20
txn = cls().txn()
for i in range(n):
    txn.insert(b"k%d" % i, V(i))
    txn.insert(b"k%d/x" % i, i)
if op == "commit":  # the values die inside commit(), which drops the txn's previous base tree
    txn.commit()
    for i in range(n):
        txn.insert(b"k%d" % i, 0)
elif op == "replace":
    for i in range(n):
        txn.insert(b"k%d" % i, 0)
elif op == "delete":
    for i in range(n):
        txn.delete(b"k%d" % i)
elif op == "delete_prefix":
    txn.delete_prefix(b"k")
elif op == "abort":
    txn.abort()
t = txn.commit()
keys = consistent(t)
consistent(txn.snapshot())
gc.collect()
for s, items in snaps:
    consistent(s)
    assert list(s.items()) == items
expected = {
    "commit": n * 2, "replace": n * 2, "delete": n, "delete_prefix": 0, "abort": 0,
}[op]
assert len(keys) == expected, (op, keys)
print("ok")
"""


@pytest.mark.parametrize("action", ["read", "snapshot", "insert"])
@pytest.mark.parametrize("op", ["replace", "delete", "delete_prefix", "abort", "commit"])
def test_value_destructor_reentering_the_txn(tree_cls: type, op: str, action: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-c", REENTRANT_SCRIPT, tree_cls.__name__, op, action],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip().endswith("ok")


# ----------------------------------------------------------------------------------------------- scale


@pytest.mark.slow
def test_million_keys(tree_cls: type) -> None:
    # ~10 s for the pure-Python tree, ~1 s for the C tree on a quiet machine: both stay in the default run.
    n = 1_000_000
    # keys in a scrambled order, sharing long prefixes and varying in length
    keys = [b"node/%d/svc-%d" % (i % 997, (i * 7919) % n) for i in range(n)]
    start = time.perf_counter()
    txn = tree_cls().txn()
    for i, k in enumerate(keys):
        txn.insert(k, i)
    assert len(txn) == n
    t = txn.commit()
    elapsed = time.perf_counter() - start
    assert len(t) == n
    rng = random.Random(5)
    for i in rng.sample(range(n), 2000):
        assert t[keys[i]] == i
    assert b"node/996/svc-0" not in t
    assert t.get(b"node/1/svc-") is None
    keys.sort()
    assert list(t) == keys
    assert t.minimum() == (keys[0], t[keys[0]])
    assert t.maximum() == (keys[-1], t[keys[-1]])
    assert len(list(t.keys(b"node/5/"))) == len([k for k in keys if k.startswith(b"node/5/")])
    print(f"{tree_cls.__name__}: {n} inserts in {elapsed:.2f}s")
