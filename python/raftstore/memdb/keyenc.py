"""Index keys of one object for all the indexes of a table, and their insertion: the write path's inner loop.

This is the pure-Python reference of ``_keyenc`` (Cython). A table's plan describes each secondary index by a
*spec* tuple ``(kind, field, lowercase, unique, keys_fn)``; ``keys_fn(obj, primary_key)`` is the reference
computation (``plan.IndexPlan.keys``) and defines the result for every kind. The C version computes the common
cases itself (kind ``STRING``/``STRING_SLICE``: a plain ``str`` / list or tuple of ``str`` field of a dict or a
non-mapping object) and hands everything else (missing fields, None, empty strings, other types, other mappings)
to ``keys_fn``, so both agree by construction; tests/memdb/test_memdb_keyenc.py checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

GENERIC = 0
STRING = 1  # StringFieldIndex
STRING_SLICE = 2  # StringSliceFieldIndex

Spec = tuple[int, str, bool, bool, Callable[[Any, bytes], "list[bytes] | None"]]


def object_keys(specs: Sequence[Spec], obj: Any) -> list[list[bytes] | None]:
    """For each index, the object's keys (non-unique ones suffixed with its primary key), or None (no value).

    ``specs[0]`` is the primary (``id``) index: its single key is the primary key. When it is missing, the result
    is ``[None]`` and nothing else is computed."""
    pk_keys = specs[0][4](obj, b"")
    if pk_keys is None:
        return [None]
    pk = pk_keys[0]
    return [pk_keys] + [spec[4](obj, pk) for spec in specs[1:]]


def insert_keys(txns: Sequence[Any], keys: Sequence[list[bytes] | None], obj: Any) -> Any:
    """Insert ``obj`` under its primary key into ``txns[0]``; if that replaced an object, return it and stop (the
    caller updates the other indexes); else insert it under every other key (``keys[i]`` into ``txns[i]``; None
    is skipped) and return None."""
    existing = txns[0].insert(keys[0][0], obj)  # type: ignore[index]  # the caller checked the primary key
    if existing is not None:
        return existing
    for i in range(1, len(keys)):
        index_keys = keys[i]
        if index_keys:
            insert = txns[i].insert
            for k in index_keys:
                insert(k, obj)
    return None
