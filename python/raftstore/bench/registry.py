"""Which layers `raftstore bench` knows, and how users add their own backends to a layer.

Three ways to plug a backend in, all ending in the same table as the built-in ones:
- in Python: ``raftstore.bench.register_backend("radix", "MyTree", MyTree)``, then run the harness;
- on the command line: ``raftstore bench radix --backend radix=mypackage.trees:MyTree``;
- as a package: an entry point in the ``raftstore.bench`` group whose object is a callable, called with no
  arguments when the harness starts, that calls `register_backend` (so installing the package is enough).

The implementation must have the layer's API; each layer wraps it in its adapter and checks its answers once, so a
wrong implementation fails loudly instead of looking fast:
- radix: a tree class with `raftstore.radix.Tree`'s API;
- memdb: a tree class with Tree's API, used as the tree under memdb;
- logstore: a `raftstore.logstore.LogStore` class or factory, called with a fresh directory of its own (or with no
  argument when it takes none); measured durable, next to the built-in stores and the plain-file floor;
- fsm: an FSM class or factory called with no arguments, with `raftstore.raft`'s FSM protocol (apply_batch,
  snapshot().persist(sink)/release(), restore(reader)) and Consul's command set.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any

from raftstore.bench.harness import BackendSpec, Layer

ENTRY_POINT_GROUP = "raftstore.bench"

_LAYERS: dict[str, Callable[[], Layer]] = {}
_PLUGINS: dict[str, list[tuple[str, Any]]] = {}
_entry_points_loaded = False


def _builtin_layers() -> dict[str, Callable[[], Layer]]:
    from raftstore.bench.cluster import ClusterLayer
    from raftstore.bench.fsm import FsmLayer
    from raftstore.bench.http import HTTPLayer
    from raftstore.bench.logstore import LogstoreLayer
    from raftstore.bench.memdb import MemdbLayer
    from raftstore.bench.radix import RadixLayer
    from raftstore.bench.snapshot import SnapshotLayer

    return {
        "radix": RadixLayer,
        "memdb": MemdbLayer,
        "logstore": LogstoreLayer,
        "fsm": FsmLayer,
        "snapshot": SnapshotLayer,
        "cluster": ClusterLayer,
        "http": HTTPLayer,
    }


def layers() -> dict[str, Callable[[], Layer]]:
    """Layer name -> factory, built-in first, in the order they are run."""
    if not _LAYERS:
        _LAYERS.update(_builtin_layers())
    return _LAYERS


def register_backend(layer: str, name: str, implementation: Any) -> None:
    """Add a backend (a class or factory with the layer's API) to a layer's comparison."""
    if layer not in layers():
        raise ValueError(f"unknown benchmark layer {layer!r}; known: {', '.join(layers())}")
    _PLUGINS.setdefault(layer, []).append((name, implementation))


def load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()()


def load_spec(text: str) -> tuple[str, str, Any]:
    """``LAYER=module:object`` (the `--backend` option) into (layer, name, implementation)."""
    layer, sep, target = text.partition("=")
    module_name, colon, attribute = target.partition(":")
    if not sep or not colon or not module_name or not attribute:
        raise ValueError(f"--backend takes LAYER=module:object, got {text!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return layer, attribute.rsplit(".", 1)[-1], obj


def plugin_specs(layer: Layer) -> list[BackendSpec]:
    return [layer.wrap(name, implementation) for name, implementation in _PLUGINS.get(layer.name, [])]


def clear_plugins() -> None:
    """Forget registered backends (tests)."""
    _PLUGINS.clear()
