"""The C tree's write-path machinery that the API does not show: the node allocator's free lists and the lockstep
path prefetch that memdb runs before inserting one record's keys (``_radix.prefetch_inserts``).

Neither may change what any tree holds: a tree built through recycled nodes, or after any prefetch (garbage
arguments included), must equal its dict model, and the trees it was derived from must be untouched.
"""

from __future__ import annotations

import random
from typing import Any

from raftstore.radix import PyTree, Tree, _radix


def _model_check(tree: Tree, model: dict[bytes, int]) -> None:
    assert len(tree) == len(model)
    assert list(tree.items()) == sorted(model.items())


def test_trees_built_from_recycled_nodes_are_exact() -> None:
    rng = random.Random(3)
    _radix._node_cache_trim()
    assert _radix._node_cache_bytes() == 0
    model: dict[bytes, int] = {}
    tree = Tree()
    versions: list[tuple[Tree, dict[bytes, int]]] = []
    for batch in range(12):
        txn = tree.txn()
        for _ in range(800):
            key = b"svc/%04d/%d" % (rng.randrange(3000), rng.randrange(3))
            if rng.random() < 0.25:
                txn.delete(key)
                model.pop(key, None)
            else:
                txn.insert(key, batch)
                model[key] = batch
        tree = txn.commit()
        versions.append((tree, dict(model)))
        if batch % 3 == 2:
            versions = versions[-1:]  # drop older versions: their nodes go onto the free lists for the next batches
            assert _radix._node_cache_bytes() > 0
    for version, version_model in versions:
        _model_check(version, version_model)
    del tree, versions, version
    _radix._node_cache_trim()
    assert _radix._node_cache_bytes() == 0


def test_node_cache_limit() -> None:
    previous = _radix._node_cache_set_limit(0)  # off: freed nodes go straight back to malloc
    try:
        txn = Tree().txn()
        for i in range(5000):
            txn.insert(b"k/%05d" % i, i)
        tree = txn.commit()
        del txn, tree
        assert _radix._node_cache_bytes() == 0
        _radix._node_cache_set_limit(10_000)
        txn = Tree().txn()
        for i in range(5000):
            txn.insert(b"k/%05d" % i, i)
        tree = txn.commit()
        assert tree[b"k/00042"] == 42
        del txn, tree
        assert 0 < _radix._node_cache_bytes() <= 10_000
    finally:
        _radix._node_cache_set_limit(previous)


def test_prefetch_inserts_changes_nothing() -> None:
    rng = random.Random(11)
    trees = []
    models = []
    for t in range(4):
        txn = Tree().txn()
        model = {}
        for i in range(2000):
            key = b"%d/node-%05d/%d" % (t, rng.randrange(10_000), i % 7)
            txn.insert(key, i)
            model[key] = i
        trees.append(txn.commit())
        models.append(model)
    txns = [tree.txn() for tree in trees]
    probes: list[list[bytes] | None] = [
        [b"0/node-00042/1", b"0/node-", b"", b"0/node-00042/1/deeper/than/any/key"],
        None,
        [b"2/x", b"\xff" * 300],
        [b"3/node-%05d/%d" % (i, i % 7) for i in range(40)],  # more than the 16 keys it looks at
    ]
    _radix.prefetch_inserts(txns, probes)
    _radix.prefetch_inserts(txns[:2], probes)  # fewer txns than key lists, and the reverse
    _radix.prefetch_inserts(txns, probes[:1])
    garbage: list[Any] = [[b"a"], [b"b"], [1, "s", b"2/node"], []]  # only the C txns' bytes keys are looked at
    _radix.prefetch_inserts([object(), PyTree().txn(), txns[2], txns[3]], garbage)
    _radix.prefetch_inserts([], [])
    for txn, tree, model in zip(txns, trees, models, strict=True):
        _model_check(txn.snapshot(), model)
        _model_check(tree, model)
    txns[3].insert(b"3/node-00001/1", -1)  # the txns still write normally after a prefetch
    assert txns[3].commit()[b"3/node-00001/1"] == -1 and trees[3].get(b"3/node-00001/1") == models[3].get(
        b"3/node-00001/1"
    )
