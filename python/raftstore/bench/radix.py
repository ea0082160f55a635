"""The radix layer's benchmark material, shared by `raftstore bench` and benchmarks/bench_radix.py (pytest-benchmark):
the key data set, the peer backends (dict, SortedDict, immutables.Map) next to Tree and PyTree, and one adapter per
backend saying how it does each benchmarked operation, so both harnesses time exactly the same code.

Keys look like b"service/<8 random digits>/node-<0..3>", unique, in random order from a fixed seed.
"""

from __future__ import annotations

import importlib
import math
import random
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import Any

from raftstore.bench.harness import BackendSpec, Context, Unavailable, Workload

SEED = 20240611
DEFAULT_N = 1_000_000
KEY_FORMAT = b"service/%08d/node-%d"  # 8 random digits (unique per key) and a small node number
NODE_NUMBERS = 4  # node-0 .. node-3

BACKENDS = ("Tree", "PyTree", "dict", "SortedDict", "immutables.Map")
ALIASES = {b.lower(): b for b in BACKENDS} | {"map": "immutables.Map", "immutables": "immutables.Map"}
INSTALL_HINTS = {
    "Tree": "raftstore (with its C extension) is not importable: `pip install -e .` from the repository root",
    "PyTree": "raftstore is not importable: `pip install -e .`, or run with PYTHONPATH=python",
    "dict": "",
    "SortedDict": "sortedcontainers is not installed: `pip install sortedcontainers` (or raftstore[test])",
    "immutables.Map": "immutables is not installed: `pip install immutables` (or raftstore[test])",
}
TREE_SHIM_REASON = (
    "raftstore.radix.Tree is the pure-Python PyTree (development shim: the C extension is not built); "
    "build it with `pip install -e .`"
)

# The one value object every key maps to (values are not what is measured).
VALUE = object()


HIT_SAMPLE = 100_000  # point lookups per round (hits and misses alike)
SEEK_PROBES = 1_000  # lower-bound seeks per round
SEEK_STEPS = 100  # items taken after each seek
PREFIX_TARGET = 1_000  # keys a prefix scan should cover

# ------------------------------------------------------------------------------------------------- keys


def key_parts(n: int, seed: int = SEED) -> tuple[array[int], bytes]:
    """The material of N unique keys in random (insertion) order: (8-digit numbers, node numbers)."""
    rng = random.Random(seed)
    digits = array("I", rng.sample(range(10**8), n))  # distinct digits -> distinct keys, already shuffled
    nodes = bytes(rng.randrange(NODE_NUMBERS) for _ in range(n))
    return digits, nodes


def iter_keys(digits: Iterable[int], nodes: Iterable[int]) -> Iterable[bytes]:
    """Format each key freshly (a new bytes object per key, referenced by nobody else)."""
    fmt = KEY_FORMAT
    return (fmt % (d, k) for d, k in zip(digits, nodes, strict=True))


def make_keys(n: int, seed: int = SEED) -> list[bytes]:
    digits, nodes = key_parts(n, seed)
    return list(iter_keys(digits, nodes))


# ------------------------------------------------------------------------------------------------- backends


def load(name: str) -> Any:
    """The class (factory) of a backend; raises Unavailable with an install hint."""
    try:
        if name in ("Tree", "PyTree"):
            radix = importlib.import_module("raftstore.radix")
            if name == "Tree" and radix.Tree is radix.PyTree:
                raise Unavailable(TREE_SHIM_REASON)
            return getattr(radix, name)
        if name == "dict":
            return dict
        if name == "SortedDict":
            return importlib.import_module("sortedcontainers").SortedDict
        if name == "immutables.Map":
            return importlib.import_module("immutables").Map
    except ImportError as exc:
        raise Unavailable(f"{INSTALL_HINTS[name]} ({exc})") from exc
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")


def bulk_insert(name: str, cls: Any, keys: Iterable[bytes], value: Any = VALUE) -> Any:
    """All keys inserted one by one, in one transaction where the backend has transactions."""
    if name in ("Tree", "PyTree"):
        txn = cls().txn()
        insert = txn.insert
        for k in keys:
            insert(k, value)
        return txn.commit()
    if name == "dict":
        d = {}
        for k in keys:
            d[k] = value
        return d
    if name == "SortedDict":
        sd = cls()
        for k in keys:
            sd[k] = value
        return sd
    if name == "immutables.Map":
        with cls().mutate() as mm:
            for k in keys:
                mm[k] = value
            return mm.finish()
    raise ValueError(name)


def bulk_construct(name: str, cls: Any, keys: Iterable[bytes], value: Any = VALUE) -> Any:
    """The constructor from an unsorted iterable of pairs, for the backends that have one (not the trees)."""
    if name in ("dict", "SortedDict", "immutables.Map"):
        return cls(zip(keys, repeat(value)))
    raise ValueError(f"{name} has no bulk constructor")


# ------------------------------------------------------------------------------------------------- data set


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with prefix (None: there is none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


@dataclass(frozen=True)
class Dataset:
    n: int
    keys: list[bytes]  # all N keys, unique, in random (insertion) order
    sorted_keys: list[bytes]
    hits: list[bytes]  # a fixed random sample of min(N, 100k) stored keys (equal copies)
    misses: list[bytes]  # as many absent keys of the same shape
    prefix: bytes  # a prefix that about 1,000 keys start with
    prefix_keys: list[bytes]  # the keys that start with it, ascending
    probes: list[bytes]  # random lower-bound seek targets (mostly absent keys)
    half: list[bytes]  # every other key of `keys` (equal copies): a random half, in random order
    seek_steps: int  # items taken after each seek
    digits: Any = field(repr=False)  # the key material, for the memory subprocess
    nodes: bytes = field(repr=False)


def _copy(key: bytes) -> bytes:
    return bytes(bytearray(key))  # an equal bytes object that is not the same object


def make_dataset(n: int) -> Dataset:
    digits, nodes = key_parts(n)
    keys = list(iter_keys(digits, nodes))
    sorted_keys = sorted(keys)
    rng = random.Random(SEED + 1)
    # Lookups and deletes use equal copies, not the stored objects: a caller's key is a fresh object, and the
    # hash maps must not get the `is` shortcut for free (hashes still get cached after the first round).
    hits = [_copy(k) for k in rng.sample(keys, min(n, HIT_SAMPLE))]
    present = set(keys)
    misses: list[bytes] = []
    while len(misses) < len(hits):
        k = KEY_FORMAT % (rng.randrange(10**8), rng.randrange(10))
        if k not in present:
            misses.append(k)
            present.add(k)
    del present
    # b"service/123" for N = 1M: 8 random digits, so each leading digit fixed divides the count by 10.
    fixed = min(8, max(0, round(math.log10(max(n, 1) / PREFIX_TARGET))))
    prefix = b"service/" + b"12345678"[:fixed]
    hi = prefix_successor(prefix)
    lo_i = bisect_left(sorted_keys, prefix)
    hi_i = len(sorted_keys) if hi is None else bisect_left(sorted_keys, hi)
    probes = [b"service/%08d" % rng.randrange(10**8) for _ in range(min(n, SEEK_PROBES))]
    return Dataset(
        n=n,
        keys=keys,
        sorted_keys=sorted_keys,
        hits=hits,
        misses=misses,
        prefix=prefix,
        prefix_keys=sorted_keys[lo_i:hi_i],
        probes=probes,
        half=[_copy(k) for k in keys[::2]],
        seek_steps=SEEK_STEPS,
        digits=digits,
        nodes=nodes,
    )


# ------------------------------------------------------------------------------------------------- backends


class Backend:
    """One backend's way of doing each benchmarked operation. The timed code is each method's body."""

    name: str
    ordered = True
    persistent = True
    has_bulk_construct = False
    unordered_reason = ""
    gc_mode = "enabled"

    def __init__(self, name: str, cls: Any, n: int, main_n: int) -> None:
        self.name = name
        self.cls = cls
        self.n = n  # the N this backend is measured at
        self.main_n = main_n  # the N of everyone else
        self.impl = f"{cls.__module__}.{cls.__qualname__}"

    def group(self, op: str) -> str:
        """The benchmark group: one per operation, so the table ranks the backends per operation."""
        if self.n == self.main_n:
            return f"radix: {op}"
        return f"radix: {op} [N={self.n:,}]"

    def bulk_insert(self, keys: list[bytes], value: Any) -> Any:
        return bulk_insert(self.name, self.cls, keys, value)

    def bulk_construct(self, keys: list[bytes], value: Any) -> Any:
        return bulk_construct(self.name, self.cls, keys, value)

    def lookup(self, s: Any, keys: list[bytes]) -> None:
        get = s.get
        for k in keys:
            get(k)

    # Each subclass adds delete_many(s, keys) and, when `ordered`, prefix_items / seek / seek_one.

    def for_delete(self, s: Any) -> Any:
        """The full structure a delete round starts from. A persistent one is shared: no round changes it."""
        return s


class RadixBackend(Backend):
    """raftstore.radix.Tree / PyTree, or any class with their API (a user's own tree, benchmarked by plugin)."""

    def bulk_insert(self, keys: list[bytes], value: Any) -> Any:
        txn = self.cls().txn()
        insert = txn.insert
        for k in keys:
            insert(k, value)
        return txn.commit()

    def prefix_items(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        return list(s.items(prefix))

    def seek(self, s: Any, probes: list[bytes], steps: int) -> None:
        seek = s.seek_lower_bound
        for p in probes:
            list(islice(seek(p), steps))

    def seek_one(self, s: Any, probe: bytes, steps: int) -> list[tuple[bytes, Any]]:
        return list(islice(s.seek_lower_bound(probe), steps))

    def delete_many(self, s: Any, keys: list[bytes]) -> Any:
        txn = s.txn()
        delete = txn.delete
        for k in keys:
            delete(k)
        return txn.commit()


class _MutableMapBackend(Backend):
    """dict and SortedDict: deleted from in place, so each delete round starts from a copy."""

    persistent = False
    has_bulk_construct = True

    def for_delete(self, s: Any) -> Any:
        return s.copy()

    def delete_many(self, s: Any, keys: list[bytes]) -> Any:
        for k in keys:
            del s[k]
        return s


class DictBackend(_MutableMapBackend):
    ordered = False
    unordered_reason = "dict is a hash map: no key order, so no prefix scan or lower-bound seek"


class SortedDictBackend(_MutableMapBackend):
    # Both ordered operations slice the sorted key list by position (bisect) and look the values up in the
    # underlying dict: measured faster than `irange(...)` + per-key lookups, so the peer is shown at its best.
    def prefix_items(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        # Keys starting with prefix are exactly the half-open range [prefix, prefix_successor(prefix)).
        hi = prefix_successor(prefix)
        ks = s.keys()[s.bisect_left(prefix) : len(s) if hi is None else s.bisect_left(hi)]
        return list(zip(ks, map(s.__getitem__, ks), strict=True))

    def seek(self, s: Any, probes: list[bytes], steps: int) -> None:
        keys_view = s.keys()
        bisect = s.bisect_left
        getitem = s.__getitem__
        for p in probes:
            i = bisect(p)
            ks = keys_view[i : i + steps]
            list(zip(ks, map(getitem, ks), strict=True))

    def seek_one(self, s: Any, probe: bytes, steps: int) -> list[tuple[bytes, Any]]:
        i = s.bisect_left(probe)
        ks = s.keys()[i : i + steps]
        return list(zip(ks, map(s.__getitem__, ks), strict=True))

    # The reference peer operation: SortedDict.irange (a generator over the range) + value lookups.
    def prefix_items_irange(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        hi = prefix_successor(prefix)
        getitem = s.__getitem__
        return [(k, getitem(k)) for k in s.irange(prefix, hi, inclusive=(True, False))]

    def seek_irange(self, s: Any, probes: list[bytes], steps: int) -> None:
        irange, getitem = s.irange, s.__getitem__
        for p in probes:
            [(k, getitem(k)) for k in islice(irange(minimum=p), steps)]


class SortedDictIrangeBackend(SortedDictBackend):
    """SortedDict's ordered operations through `irange` (a generator over the range, the form the radix targets are
    stated against), as a backend of its own so the table ranks it next to Tree on the same workloads. Its other
    operations are SortedDict's and are not measured twice."""

    variant_of = "SortedDict"

    def bulk_insert(self, keys: list[bytes], value: Any) -> Any:
        return bulk_insert(self.variant_of, self.cls, keys, value)

    def prefix_items(self, s: Any, prefix: bytes) -> list[tuple[bytes, Any]]:
        return self.prefix_items_irange(s, prefix)

    def seek(self, s: Any, probes: list[bytes], steps: int) -> None:
        self.seek_irange(s, probes, steps)

    def seek_one(self, s: Any, probe: bytes, steps: int) -> list[tuple[bytes, Any]]:
        getitem = s.__getitem__
        return [(k, getitem(k)) for k in islice(s.irange(minimum=probe), steps)]


class MapBackend(Backend):
    ordered = False
    has_bulk_construct = True
    unordered_reason = "immutables.Map is a hash array mapped trie: no key order, so no prefix scan or seek"

    def delete_many(self, s: Any, keys: list[bytes]) -> Any:
        with s.mutate() as mm:
            for k in keys:
                del mm[k]
            return mm.finish()


BACKEND_CLASSES = {
    "Tree": RadixBackend,
    "PyTree": RadixBackend,
    "dict": DictBackend,
    "SortedDict": SortedDictBackend,
    "immutables.Map": MapBackend,
}
IMPORTS = {  # backend -> the module it needs
    "Tree": "raftstore.radix",
    "PyTree": "raftstore.radix",
    "SortedDict": "sortedcontainers",
    "immutables.Map": "immutables",
}


# ------------------------------------------------------------------------------------------------- `raftstore bench`

QUICK_N = 20_000
FULL_N = 1_000_000
FULL_PYTREE_N = 100_000  # the pure-Python reference at full N would take most of the run; rates stay comparable
PREFIX_SCANS = 100  # prefix scans per sample: one scan is tens of microseconds, too short to time alone


def _built(ctx: Context) -> Any:
    built = ctx.scratch.get("built")
    if built is None:
        built = ctx.scratch["built"] = ctx.backend.bulk_insert(ctx.data[ctx.backend.n].keys, VALUE)
    return built


def _data(ctx: Context) -> Dataset:
    data: Dataset = ctx.data[ctx.backend.n]
    return data


def _run_bulk_insert(ctx: Context) -> int:
    keys = _data(ctx).keys
    ctx.scratch["built"] = ctx.backend.bulk_insert(keys, VALUE)
    return len(keys)


def _check_bulk_insert(ctx: Context) -> None:
    built, data = ctx.scratch["built"], _data(ctx)
    assert len(built) == data.n and all(built.get(k) is VALUE for k in data.hits[:1000]), "bulk insert lost keys"


def _has_bulk_construct(backend: Any) -> str | None:
    if not backend.has_bulk_construct:
        return "no bulk constructor (its bulk path is one txn)"
    return _not_a_variant(backend)


def _run_bulk_construct(ctx: Context) -> int:
    keys = _data(ctx).keys
    ctx.scratch["constructed"] = ctx.backend.bulk_construct(keys, VALUE)
    return len(keys)


def _drop_constructed(ctx: Context) -> None:
    ctx.scratch.pop("constructed", None)


def _lookups(name: str, hits: bool) -> Workload:
    def keys(ctx: Context) -> list[bytes]:
        return _data(ctx).hits if hits else _data(ctx).misses

    def run(ctx: Context) -> int:
        ctx.backend.lookup(ctx.scratch["built"], keys(ctx))
        return len(keys(ctx))

    def check(ctx: Context) -> None:
        get = ctx.scratch["built"].get
        assert all((get(k) is not None) == hits for k in keys(ctx)), f"{name}: wrong answers"

    return Workload(name, run, prepare=_prepare_built, applies=_not_a_variant, check=check)


def _not_a_variant(backend: Any) -> str | None:
    variant_of = getattr(backend, "variant_of", None)
    return f"measured as {variant_of}" if variant_of else None


def _ordered_only(backend: Any) -> str | None:
    return None if backend.ordered else backend.unordered_reason


def _prepare_built(ctx: Context) -> None:
    _drop_constructed(ctx)
    _built(ctx)


def _run_prefix_scan(ctx: Context) -> int:
    built, prefix, scan = ctx.scratch["built"], _data(ctx).prefix, ctx.backend.prefix_items
    for _ in range(PREFIX_SCANS):
        scan(built, prefix)
    return PREFIX_SCANS * len(_data(ctx).prefix_keys)


def _check_prefix_scan(ctx: Context) -> None:
    got = [k for k, _ in ctx.backend.prefix_items(ctx.scratch["built"], _data(ctx).prefix)]
    assert got == _data(ctx).prefix_keys, "prefix scan: wrong keys"


def _run_seek(ctx: Context) -> int:
    data = _data(ctx)
    ctx.backend.seek(ctx.scratch["built"], data.probes, data.seek_steps)
    return len(data.probes)


def _check_seek(ctx: Context) -> None:
    data = _data(ctx)
    for probe in data.probes[:50]:
        i = bisect_left(data.sorted_keys, probe)
        got = [k for k, _ in ctx.backend.seek_one(ctx.scratch["built"], probe, data.seek_steps)]
        assert got == data.sorted_keys[i : i + data.seek_steps], "seek: wrong keys"


def _prepare_delete(ctx: Context) -> None:
    ctx.scratch["to_delete"] = ctx.backend.for_delete(_built(ctx))


def _run_delete_half(ctx: Context) -> int:
    half = _data(ctx).half
    ctx.scratch["after_delete"] = ctx.backend.delete_many(ctx.scratch.pop("to_delete"), half)
    return len(half)


def _check_delete_half(ctx: Context) -> None:
    after, data = ctx.scratch.pop("after_delete"), _data(ctx)
    assert len(after) == data.n - len(data.half), "delete half: wrong size"


class RadixLayer:
    """The radix layer for `raftstore bench`: Tree and PyTree against dict, SortedDict and immutables.Map."""

    name = "radix"
    default_baseline = "SortedDict"

    def __init__(self) -> None:
        self._n = FULL_N
        self._pytree_n = FULL_PYTREE_N

    def prepare(self, quick: bool) -> dict[int, Dataset]:
        """Data sets by N (PyTree may run at a smaller N than the others in the full run)."""
        self._n = QUICK_N if quick else FULL_N
        self._pytree_n = QUICK_N if quick else FULL_PYTREE_N
        return {n: make_dataset(n) for n in {self._n, self._pytree_n}}

    def parameters(self, data: dict[int, Dataset]) -> dict[str, Any]:
        main = data[self._n]
        return {
            "n": self._n,
            "pytree_n": self._pytree_n,
            "key_format": KEY_FORMAT.decode(),
            "lookups": len(main.hits),
            "prefix": main.prefix.decode(),
            "keys_per_prefix_scan": len(main.prefix_keys),
            "prefix_scans_per_sample": PREFIX_SCANS,
            "seeks": len(main.probes),
            "seek_steps": main.seek_steps,
        }

    def workloads(self) -> list[Workload]:
        return [
            Workload("bulk insert", _run_bulk_insert, applies=_not_a_variant, check=_check_bulk_insert),
            Workload("bulk construct", _run_bulk_construct, applies=_has_bulk_construct),
            _lookups("get (hit)", hits=True),
            _lookups("get (miss)", hits=False),
            Workload(
                "prefix scan", _run_prefix_scan, prepare=_prepare_built, applies=_ordered_only, check=_check_prefix_scan
            ),
            Workload("seek + 100 steps", _run_seek, prepare=_prepare_built, applies=_ordered_only, check=_check_seek),
            Workload(
                "delete half",
                _run_delete_half,
                prepare=_prepare_delete,
                applies=_not_a_variant,
                check=_check_delete_half,
            ),
        ]

    def _spec(self, name: str, make: Any, backend_class: type[Backend], origin: str = "built-in") -> BackendSpec:
        def create(data: dict[int, Dataset]) -> Backend:
            try:
                cls = make()
            except Unavailable:
                raise
            except ImportError as error:
                raise Unavailable(f"{INSTALL_HINTS.get(name.split(' ')[0], '')} ({error})") from None
            n = self._pytree_n if name == "PyTree" else self._n
            return backend_class(name, cls, n, self._n)

        return BackendSpec(name, create, origin)

    def backends(self) -> list[BackendSpec]:
        specs = []
        for name in BACKENDS:

            def make(name: str = name) -> Any:
                return load(name)  # raises Unavailable with the install hint

            specs.append(self._spec(name, make, BACKEND_CLASSES[name]))
            if name == "SortedDict":
                specs.append(self._spec("SortedDict (irange)", make, SortedDictIrangeBackend))
        return specs

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A user's tree class with Tree's API (txn/insert/commit, get, items, seek_lower_bound, len)."""
        return self._spec(name, lambda: implementation, RadixBackend, origin="plugin")
