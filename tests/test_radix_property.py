"""Differential test: the C ``Tree``, the pure-Python ``PyTree`` and a dict model under the same operations.

A hypothesis state machine drives one transaction per implementation (insert / delete / delete_prefix /
commit / abort / snapshot / restart from an old tree), plus one-operation writes on old trees (``t.insert``
...), and reads every kept tree with every read form; all results must agree across the three. Watches are
taken from the kept trees: the two implementations must hand out structurally identical watches (the same
identity relations) and fire exactly the same ones; against the model only "must fire" is checked: a watch
(``watch(k)`` or ``watch_prefix(k)``: with one watch per node version, both fire for any change to a key that
starts with k) must have fired once a later commit derived from the watch's tree touched such a key. Old trees
are re-checked at the end of every run (isolation).

The key alphabet is tiny (0x00, "a", "b", 0xff; length 0..6) so that prefixes collide and nodes split and
merge. Set RADIX_PROPERTY_EXAMPLES to run more examples than the default.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

ALPHABET = [0x00, 0x61, 0x62, 0xFF]
KEYS = st.lists(st.sampled_from(ALPHABET), max_size=6).map(bytes)
PREFIXES = st.lists(st.sampled_from(ALPHABET), max_size=3).map(bytes)
VALUES = st.sampled_from([None, 0, 1, 2])  # few values: replacing a value by the same object happens often
KEY_TYPES = st.sampled_from([bytes, bytearray, memoryview])
INDEX = st.integers(min_value=0, max_value=1 << 16)  # an index into a list, taken modulo its length
PICK = st.none() | INDEX  # None: use the drawn key; else pick a stored key (see `_choose`)
MAX_WATCHES = 60

EXAMPLES = int(os.environ.get("RADIX_PROPERTY_EXAMPLES", "500"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, stateful_step_count=60)


def _choose(key: bytes, pick: int | None, model: dict[bytes, Any], cut: int | None = None) -> bytes:
    """``key``, or (when ``pick`` is given and there is one) a key of ``model``, cut to ``cut`` bytes."""
    if pick is None or not model:
        return key
    stored = sorted(model)[pick % len(model)]
    return stored if cut is None else stored[:cut]


def _random_keys(seed: int, size: int) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.choices(ALPHABET, k=rng.randrange(7))) for _ in range(size)]


@dataclass
class Kept:
    """A tree (one per implementation) kept for later reads, with what it must contain."""

    trees: dict[str, Any]
    model: dict[bytes, Any]
    ident: int


@dataclass
class Watched:
    """One watch per implementation, with what it watches and whether the model says it must have fired."""

    watches: dict[str, Any]
    kind: str  # "key" or "prefix"
    arg: bytes
    source: int  # ident of the tree it was taken from
    must_fire: bool = False


class RadixMachine(RuleBasedStateMachine):
    def __init__(self, ref: type, impls: dict[str, type]) -> None:
        super().__init__()
        self.Ref = ref
        self.names = list(impls)
        empty = {name: cls() for name, cls in impls.items()}
        self.kept: list[Kept] = [Kept(empty, {}, 0)]
        # The trees each tree derives from, in the watch sense: a commit derives from the tree its txn started
        # from (or last committed) and from the snapshots taken since, t.insert & co. from their tree. Snapshots
        # have none: what the txn did before a snapshot fires (if ever) at the txn's commit, not for its watches.
        self.parent: dict[int, tuple[int, ...]] = {0: ()}
        self.open_snaps: dict[int, set[bytes]] = {}  # snapshots taken since `base`, with the keys touched since
        self.next_ident = 1
        self.txns = {name: t.txn() for name, t in empty.items()}
        self.base = 0  # the tree the txns started from, or last committed
        self.model: dict[bytes, Any] = {}
        self.committed: dict[bytes, Any] = {}
        self.touched: set[bytes] = set()  # keys the txn changed since `base`
        self.watched: list[Watched] = []
        self.fired: list[bool] = []  # what has fired so far, for the "nothing fires between commits" invariant

    # ------------------------------------------------------------------------------------------ helpers

    def _new_ident(self, parents: tuple[int, ...]) -> int:
        ident = self.next_ident
        self.next_ident += 1
        self.parent[ident] = parents
        return ident

    def _ancestors(self, ident: int) -> set[int]:
        out: set[int] = set()
        todo = list(self.parent[ident])
        while todo:
            cur = todo.pop()
            if cur not in out:
                out.add(cur)
                todo.extend(self.parent[cur])
        return out

    def _touch(self, keys: Iterable[bytes]) -> None:
        keys = set(keys)
        self.touched |= keys
        for since in self.open_snaps.values():
            since |= keys

    @staticmethod
    def _mark(w: Watched, touched: set[bytes]) -> None:
        # watch(k) is the watch of k's node (or of the deepest node on k's path) and watch_prefix(k) that of the
        # node covering k: either lies on the path that a change to any key starting with k copies.
        if not w.must_fire:
            w.must_fire = any(k.startswith(w.arg) for k in touched)

    def _pick(self, index: int) -> Kept:
        return self.kept[index % len(self.kept)]

    def _committed(self, trees: dict[str, Any], model: dict[bytes, Any], ident: int, touched: set[bytes]) -> None:
        """A commit produced ``trees`` (tree ``ident``): watches of its ancestors it concerns must fire."""
        expected = sorted(model.items())
        for name in self.names:
            assert list(trees[name].items()) == expected, name
        ancestors = self._ancestors(ident)
        for w in self.watched:
            if w.source in ancestors:
                self._mark(w, touched)
        self._check_watches()
        self.kept.append(Kept(trees, dict(model), ident))

    def _check_watches(self) -> None:
        for w in self.watched:
            fired = {name: w.watches[name].fired for name in self.names}
            assert len(set(fired.values())) == 1, (w.kind, w.arg, w.source, fired)
            if w.must_fire:
                assert fired[self.names[0]], (w.kind, w.arg, w.source)
        self.fired = [w.watches[self.names[0]].fired for w in self.watched]

    # ------------------------------------------------------------------------------------------ txn writes

    @initialize(seed=st.integers(0, 1 << 32), size=st.integers(0, 300), value=VALUES)
    def bulk_load(self, seed: int, size: int, value: Any) -> None:
        """Start from a tree of some size (random keys: hypothesis draws small ones), so that deep splits and
        merges happen from the first steps on."""
        for key in _random_keys(seed, size):
            for name in self.names:
                self.txns[name].insert(key, value)
            self.model[key] = value
            self._touch([key])
        self.commit()

    @rule(key=KEYS, pick=PICK, value=VALUES, key_type=KEY_TYPES)
    def insert(self, key: bytes, pick: int | None, value: Any, key_type: type) -> None:
        key = _choose(key, pick, self.model)
        expected = self.model.get(key)
        for name in self.names:
            assert self.txns[name].insert(key_type(key), value) == expected, name
        self.model[key] = value
        self._touch([key])

    @rule(keys=st.lists(KEYS, max_size=30), value=VALUES)
    def insert_many(self, keys: list[bytes], value: Any) -> None:
        for key in keys:
            for name in self.names:
                self.txns[name].insert(key, value)
            self.model[key] = value
        self._touch(keys)

    @rule(key=KEYS, pick=PICK)
    def delete(self, key: bytes, pick: int | None) -> None:
        key = _choose(key, pick, self.model)
        present = key in self.model
        expected = self.model.pop(key, None)
        for name in self.names:
            assert self.txns[name].delete(key) == expected, name
        if present:
            self._touch([key])

    @rule(prefix=PREFIXES, pick=PICK)
    def delete_prefix(self, prefix: bytes, pick: int | None) -> None:
        prefix = _choose(prefix, pick, self.model, cut=len(prefix) + 1)
        gone = [k for k in self.model if k.startswith(prefix)]
        for name in self.names:
            assert self.txns[name].delete_prefix(prefix) == len(gone), name
        for k in gone:
            del self.model[k]
        self._touch(gone)

    @rule()
    def commit(self) -> None:
        trees = {name: self.txns[name].commit() for name in self.names}
        # The snapshots taken since the last commit share the nodes the txn replaced after taking them.
        for w in self.watched:
            if w.source in self.open_snaps:
                self._mark(w, self.open_snaps[w.source])
        ident = self._new_ident((self.base,))
        self._committed(trees, self.model, ident, self.touched)
        self.parent[ident] = (self.base, *self.open_snaps)
        self.base = ident
        self.committed = dict(self.model)
        self.touched = set()
        self.open_snaps = {}

    @rule()
    def abort(self) -> None:
        for name in self.names:
            self.txns[name].abort()
        self.model = dict(self.committed)
        self.touched = set()
        self.open_snaps = {}

    @rule()
    def snapshot(self) -> None:
        trees = {name: self.txns[name].snapshot() for name in self.names}
        expected = sorted(self.model.items())
        for name in self.names:
            assert list(trees[name].items()) == expected, name
        ident = self._new_ident(())
        self.kept.append(Kept(trees, dict(self.model), ident))
        self.open_snaps[ident] = set()

    @rule(index=INDEX)
    def restart_txn(self, index: int) -> None:
        """Drop the txns (uncommitted changes are lost, nothing fires) and start new ones from a kept tree."""
        kept = self._pick(index)
        self.txns = {name: kept.trees[name].txn() for name in self.names}
        self.base = kept.ident
        self.model = dict(kept.model)
        self.committed = dict(kept.model)
        self.touched = set()
        self.open_snaps = {}

    # ------------------------------------------------------------------------------------------ tree writes

    @rule(index=INDEX, key=KEYS, pick=PICK, value=VALUES)
    def tree_insert(self, index: int, key: bytes, pick: int | None, value: Any) -> None:
        kept = self._pick(index)
        key = _choose(key, pick, kept.model)
        trees = {name: kept.trees[name].insert(key, value) for name in self.names}
        self._committed(trees, {**kept.model, key: value}, self._new_ident((kept.ident,)), {key})

    @rule(index=INDEX, key=KEYS, pick=PICK)
    def tree_delete(self, index: int, key: bytes, pick: int | None) -> None:
        kept = self._pick(index)
        key = _choose(key, pick, kept.model)
        trees = {name: kept.trees[name].delete(key) for name in self.names}
        model = {k: v for k, v in kept.model.items() if k != key}
        touched = {key} if key in kept.model else set()
        self._committed(trees, model, self._new_ident((kept.ident,)), touched)

    @rule(index=INDEX, prefix=PREFIXES, pick=PICK)
    def tree_delete_prefix(self, index: int, prefix: bytes, pick: int | None) -> None:
        kept = self._pick(index)
        prefix = _choose(prefix, pick, kept.model, cut=len(prefix) + 1)
        trees = {name: kept.trees[name].delete_prefix(prefix) for name in self.names}
        model = {k: v for k, v in kept.model.items() if not k.startswith(prefix)}
        touched = {k for k in kept.model if k.startswith(prefix)}
        self._committed(trees, model, self._new_ident((kept.ident,)), touched)

    @precondition(lambda self: len(self.kept) > 2)
    @rule(index=INDEX)
    def drop_tree(self, index: int) -> None:
        """Forget a kept tree (its watches stay): the txns may then hold the only reference to its nodes."""
        del self.kept[1 + index % (len(self.kept) - 1)]

    # ------------------------------------------------------------------------------------------ reads

    @rule(key=KEYS)
    def txn_reads(self, key: bytes) -> None:
        for name in self.names:
            txn = self.txns[name]
            assert len(txn) == len(self.model), name
            assert (key in txn) == (key in self.model), name
            assert txn.get(key, "absent") == self.model.get(key, "absent"), name
            if key in self.model:
                assert txn[key] == self.model[key], name

    @rule(
        index=INDEX,
        key=KEYS,
        pick=PICK,
        prefix=PREFIXES | KEYS,
        reverse=st.booleans(),
        steps=st.integers(0, 10),
    )
    def read(self, index: int, key: bytes, pick: int | None, prefix: bytes, reverse: bool, steps: int) -> None:
        """Every read form of a kept tree (iterations with a prefix / from ``key`` for ``steps`` items)."""
        kept = self._pick(index)
        key = _choose(key, pick, kept.model)
        ref = self.Ref(kept.model)
        items = ref.items(prefix, reverse)
        up = ref.seek_lower_bound(key)[:steps]
        down = ref.seek_reverse_lower_bound(key)[:steps]
        for name in self.names:
            t = kept.trees[name]
            assert list(t.items(prefix, reverse)) == items, name
            assert list(t.keys(prefix, reverse=reverse)) == [k for k, _ in items], name
            assert list(t.values(prefix=prefix, reverse=reverse)) == [v for _, v in items], name
            assert list(itertools.islice(t.seek_lower_bound(key), steps)) == up, name
            assert list(itertools.islice(t.seek_reverse_lower_bound(key), steps)) == down, name
            assert len(t) == len(ref), name
            assert (key in t) == (key in kept.model), name
            assert t.get(key, "absent") == kept.model.get(key, "absent"), name
            assert list(t.walk_path(key)) == ref.walk_path(key), name
            assert t.longest_prefix(key) == ref.longest_prefix(key), name
            assert t.minimum() == ref.minimum(), name
            assert t.maximum() == ref.maximum(), name
            assert list(t) == ref.sorted_keys, name

    # ------------------------------------------------------------------------------------------ watches

    @precondition(lambda self: len(self.watched) < MAX_WATCHES)
    @rule(index=INDEX, arg=KEYS, pick=PICK, kind=st.sampled_from(["key", "prefix"]))
    def take_watch(self, index: int, arg: bytes, pick: int | None, kind: str) -> None:
        kept = self._pick(index)
        arg = _choose(arg, pick, kept.model, cut=None if kind == "key" else len(arg))
        watches = {}
        for name in self.names:
            t = kept.trees[name]
            w = t.watch(arg) if kind == "key" else t.watch_prefix(arg)
            again = t.watch(arg) if kind == "key" else t.watch_prefix(arg)
            assert w is again, name  # the same watch while the node is unchanged
            watches[name] = w
        first, *others = self.names
        for name in others:
            assert watches[name].fired == watches[first].fired, (kind, arg)
            if watches[first].fired:
                continue  # a fired watch may be any fired object (e.g. one shared by outdated nodes)
            # Both trees have the same nodes, so they hand out the same watch exactly when the other does.
            for old in self.watched:
                same = watches[first] is old.watches[first]
                assert (watches[name] is old.watches[name]) == same, (kind, arg, old.kind, old.arg)
        self.watched.append(Watched(watches, kind, arg, kept.ident))
        self.fired.append(watches[first].fired)

    @invariant()
    def nothing_fires_outside_commits(self) -> None:
        # Every commit updates `self.fired`; txn writes, snapshots, aborts and restarts must fire nothing.
        for w, fired in zip(self.watched, self.fired, strict=True):
            for name in self.names:
                assert w.watches[name].fired == fired, (name, w.kind, w.arg)

    @invariant()
    def txn_len(self) -> None:
        for name in self.names:
            assert len(self.txns[name]) == len(self.model), name

    def teardown(self) -> None:
        # Isolation: every kept tree still holds exactly what it held when it was made.
        for kept in self.kept:
            ref = self.Ref(kept.model)
            for name in self.names:
                t = kept.trees[name]
                assert len(t) == len(ref), name
                assert list(t.items()) == ref.items(), name
                assert list(t.items(reverse=True)) == ref.items(reverse=True), name
        self._check_watches()


def test_tree_pytree_and_model_agree(Ref: type, impls: dict[str, type]) -> None:
    run_state_machine_as_test(lambda: RadixMachine(Ref, impls), settings=SETTINGS)
