"""Shared fixtures for the radix tree tests.

pytest runs with ``--import-mode=importlib``, so test modules cannot import each other or this file:
everything they share is handed out here as a fixture.

* ``tree_cls`` — the implementation under test, parametrised over the C ``Tree`` (id ``c``) and the
  pure-Python ``PyTree`` (id ``py``); every behavioural test takes it, so each runs once per implementation.
* ``impls`` — both classes at once, for the differential (hypothesis) test.
* ``build`` — builds a tree of a given class from a mapping, in one transaction.
* ``Ref`` — a dict-backed reference model answering every read of the tree API.
* ``check_tree`` — compares every read form of a tree against a dict, for a set of probe keys.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import raftstore.radix as radix

# One hypothesis profile for the suite (tests set their own example counts): no per-example deadline, since
# a loaded 2-core machine makes timings meaningless, and failing examples are printed as a reproducible blob.
settings.register_profile(
    "raftstore",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "raftstore"))

Item = tuple[bytes, Any]


@pytest.fixture(params=["Tree", pytest.param("PyTree", marks=pytest.mark.pure_python)], ids=["c", "py"])
def tree_cls(request: pytest.FixtureRequest) -> type:
    """The tree implementation under test: ``raftstore.radix.Tree`` (C) or ``raftstore.radix.PyTree``."""
    return getattr(radix, request.param)


@pytest.fixture
def impls() -> dict[str, type]:
    """Both implementations, keyed by the ids used in ``tree_cls``."""
    return {"c": radix.Tree, "py": radix.PyTree}


def _build(tree_cls: type, items: Mapping[bytes, Any] | Iterable[bytes]) -> Any:
    txn = tree_cls().txn()
    if isinstance(items, Mapping):
        for k, v in items.items():
            txn.insert(k, v)
    else:
        for k in items:
            txn.insert(k, k)
    return txn.commit()


@pytest.fixture
def build() -> Callable[..., Any]:
    """``build(tree_cls, mapping_or_keys)``: a tree holding the mapping (or each key mapped to itself)."""
    return _build


class Ref:
    """The reference model: what every read of a tree holding ``data`` must return."""

    def __init__(self, data: Mapping[bytes, Any]) -> None:
        self.data = dict(data)
        self.sorted_keys = sorted(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def items(self, prefix: bytes = b"", reverse: bool = False) -> list[Item]:
        out = [(k, self.data[k]) for k in self.sorted_keys if k.startswith(prefix)]
        return out[::-1] if reverse else out

    def seek_lower_bound(self, key: bytes) -> list[Item]:
        return [(k, self.data[k]) for k in self.sorted_keys if k >= key]

    def seek_reverse_lower_bound(self, key: bytes) -> list[Item]:
        return [(k, self.data[k]) for k in reversed(self.sorted_keys) if k <= key]

    def walk_path(self, key: bytes) -> list[Item]:
        # The stored prefixes of one key sort by length, so byte order is "shortest first".
        return [(k, self.data[k]) for k in self.sorted_keys if key.startswith(k)]

    def longest_prefix(self, key: bytes) -> Item | None:
        path = self.walk_path(key)
        return path[-1] if path else None

    def minimum(self) -> Item | None:
        return (self.sorted_keys[0], self.data[self.sorted_keys[0]]) if self.data else None

    def maximum(self) -> Item | None:
        return (self.sorted_keys[-1], self.data[self.sorted_keys[-1]]) if self.data else None


@pytest.fixture(name="Ref")
def ref_fixture() -> type[Ref]:
    return Ref


def default_probes(data: Mapping[bytes, Any]) -> list[bytes]:
    """Probe keys around the stored ones: the keys, their prefixes, and neighbours just below/above."""
    probes = {b"", b"\x00", b"\xff", b"\xff" * 8}
    for k in data:
        probes.add(k)
        for i in range(len(k)):
            probes.add(k[:i])
        probes.add(k + b"\x00")
        probes.add(k + b"\xff")
        if k:
            last = k[-1]
            if last > 0:
                probes.add(k[:-1] + bytes([last - 1]) + b"\xff")
            if last < 255:
                probes.add(k[:-1] + bytes([last + 1]))
    return sorted(probes)


def _check_tree(tree: Any, data: Mapping[bytes, Any], probes: Iterable[bytes] | None = None) -> None:
    ref = Ref(data)
    assert len(tree) == len(ref)
    assert list(tree) == ref.sorted_keys
    assert list(tree.items()) == ref.items()
    assert list(tree.items(reverse=True)) == ref.items(reverse=True)
    assert list(tree.keys()) == ref.sorted_keys
    assert list(tree.values()) == [v for _, v in ref.items()]
    assert tree.minimum() == ref.minimum()
    assert tree.maximum() == ref.maximum()
    for p in default_probes(data) if probes is None else probes:
        expected = ref.items(p)
        assert list(tree.items(p)) == expected, p
        assert list(tree.items(p, reverse=True)) == expected[::-1], p
        assert list(tree.keys(p)) == [k for k, _ in expected], p
        assert list(tree.values(p, reverse=True)) == [v for _, v in reversed(expected)], p
        assert list(itertools.islice(tree.seek_lower_bound(p), 3)) == ref.seek_lower_bound(p)[:3], p
        assert list(itertools.islice(tree.seek_reverse_lower_bound(p), 3)) == ref.seek_reverse_lower_bound(p)[:3], p
        assert list(tree.walk_path(p)) == ref.walk_path(p), p
        assert tree.longest_prefix(p) == ref.longest_prefix(p), p
        assert (p in tree) == (p in ref.data), p
        assert tree.get(p, ...) == ref.data.get(p, ...), p


@pytest.fixture
def check_tree() -> Callable[..., None]:
    """``check_tree(tree, mapping, probes=None)``: every read form of ``tree`` agrees with ``mapping``."""
    return _check_tree
