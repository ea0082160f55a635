"""The C tree's key filter (csrc/bloom.c): it may only ever answer "absent" for keys a tree does not hold.

The filter is an internal fast path for lookups of absent keys, invisible in the API, so these tests drive the C
tree with the filter threshold lowered to a handful of keys and check every lookup, in every version kept, against a
dict model, while versions share one filter, txns from the same base add keys to it, deletes leave stale bits, full
filters are dropped and lookups build new ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftstore.radix import Tree, _radix

KEYS = st.binary(min_size=0, max_size=6)


@pytest.fixture
def small_filter_threshold() -> Iterator[None]:
    previous = _radix._set_filter_min_keys(8)
    yield
    _radix._set_filter_min_keys(previous)


def _check(tree: Tree, model: dict[bytes, int], probes: list[bytes]) -> None:
    for key, value in model.items():
        assert tree.get(key) == value and key in tree and tree[key] == value
    for key in probes:
        assert (key in tree) == (key in model)
        assert tree.get(key, "absent") == model.get(key, "absent")


@pytest.mark.usefixtures("small_filter_threshold")
@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("insert"), KEYS),
            st.tuples(st.just("delete"), KEYS),
            st.tuples(st.just("delete_prefix"), st.binary(max_size=2)),
            st.tuples(st.just("commit"), st.none()),
            st.tuples(st.just("abort"), st.none()),
            st.tuples(st.just("fork"), st.none()),
        ),
        max_size=120,
    ),
    st.lists(KEYS, max_size=30),
)
def test_no_version_ever_misses_a_key_it_holds(ops: list[tuple[str, object]], probes: list[bytes]) -> None:
    tree = Tree()
    base_model: dict[bytes, int] = {}
    txn, model = tree.txn(), {}
    versions: list[tuple[Tree, dict[bytes, int]]] = [(tree, {})]
    for step, (op, arg) in enumerate(ops):
        if op == "insert":
            assert isinstance(arg, bytes)
            txn.insert(arg, step)
            model[arg] = step
        elif op == "delete":
            assert isinstance(arg, bytes)
            txn.delete(arg)
            model.pop(arg, None)
        elif op == "delete_prefix":
            assert isinstance(arg, bytes)
            txn.delete_prefix(arg)
            model = {k: v for k, v in model.items() if not k.startswith(arg)}
        elif op == "commit":
            tree = txn.commit()
            base_model = dict(model)
            versions.append((tree, base_model))
        elif op == "abort":
            txn.abort()
            model = dict(base_model)
        else:  # a second txn from the same tree adds its keys to the shared filter
            other = tree.txn()
            for key in probes[:5]:
                other.insert(key + b"#", -1)
            versions.append((other.commit(), {**base_model, **{k + b"#": -1 for k in probes[:5]}}))
        for key in (arg,) if isinstance(arg, bytes) else ():
            assert (key in txn) == (key in model)
    _check(txn.snapshot(), model, probes)
    for version, version_model in versions:
        _check(version, version_model, probes)


def test_filters_are_built_by_lookups_shared_and_dropped_when_full(small_filter_threshold: None) -> None:
    txn = Tree().txn()
    for i in range(7):
        txn.insert(b"k%d" % i, i)
    small = txn.commit()
    assert b"k0" in small and small._filter_stats() is None  # below the threshold: no filter, even when read
    txn.insert(b"k7", 7)
    eight = txn.commit()
    assert eight._filter_stats() is None  # writes never build a filter: a bulk load nobody reads pays nothing
    assert b"absent" not in eight
    capacity, added, _ = eight._filter_stats()
    assert (capacity, added) == (16, 8)  # built by that lookup from all 8 keys, room for twice as many
    txn = eight.txn()  # starts with eight's filter, and adds its new keys to it
    txn.insert(b"k7", 70)  # an update adds nothing
    assert txn.commit()._filter_stats()[1] == 8
    for i in range(8, 17):
        txn.insert(b"k%d" % i, i)
    grown = txn.commit()
    assert grown._filter_stats()[:2] == (16, 17)  # one past capacity: full
    txn.insert(b"k17", 17)  # full: dropped, not rebuilt by the write
    dropped = txn.commit()
    assert dropped._filter_stats() is None
    assert b"k3" in dropped and dropped._filter_stats()[:2] == (36, 18)  # rebuilt by the next lookup
    assert eight._filter_stats()[0] == 16 and grown._filter_stats()[0] == 16  # older versions keep theirs
    for i in range(18):
        assert dropped[b"k%d" % i] == (70 if i == 7 else i)
        assert (b"k%d" % i in eight) == (i < 8)
        assert b"k%d" % i in grown or i == 17


def test_abort_goes_back_to_a_filter_holding_the_base_keys(small_filter_threshold: None) -> None:
    """A filter built inside a txn holds the txn's keys; after an abort the txn holds base's keys again, including
    the ones it had deleted (this used to lose them: the rebuilt filter stayed after the abort)."""
    txn = Tree().txn()
    for i in range(10):
        txn.insert(b"k%d" % i, i)
    base = txn.commit()
    assert b"k0" in base and base._filter_stats() is not None
    txn.delete(b"k0")
    for i in range(40):  # fills base's shared filter: dropped, then rebuilt from the txn's keys by a lookup
        txn.insert(b"x%d" % i, i)
    assert b"k0" not in txn and b"x1" in txn
    txn.abort()
    assert b"k0" in txn and txn.get(b"k0") == 0 and b"x1" not in txn
    assert b"k0" in txn.snapshot() and b"k0" in txn.commit()


def test_many_keys_with_churn_at_the_default_threshold() -> None:
    rng = random.Random(7)
    txn, model = Tree().txn(), {}
    for round_number in range(4):
        for _ in range(6000):
            key = b"svc/%06d" % rng.randrange(20_000)
            if rng.random() < 0.3:
                txn.delete(key)
                model.pop(key, None)
            else:
                txn.insert(key, round_number)
                model[key] = round_number
        tree = txn.commit()
        probes = [b"svc/%06d" % rng.randrange(25_000) for _ in range(3000)]
        _check(tree, model, probes)
    assert tree._filter_stats() is not None
