"""Reading a named field of a stored object: an attribute, or a key when the object is a mapping.

go-memdb's field indexers read struct fields by reflection; Python objects come as dataclasses, slots classes,
namedtuples or plain dicts. A field name is looked up as a mapping key when the object is a mapping (so a dict's
"keys" field is its key, not its method) and as an attribute otherwise.

This runs for every field index of every inserted object, so the choice is made once per object *type*: each
``FieldReader`` caches a C-level getter (``operator.itemgetter`` or ``attrgetter``) per type it meets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter, itemgetter
from typing import Any

from raftstore.memdb.errors import IndexerError


class FieldReader:
    """``reader(obj)`` is the value of ``field`` in ``obj``; IndexerError (go-memdb's "field 'x' for ... is
    invalid") when it has none."""

    __slots__ = ("_attr", "_by_type", "_item", "field")

    def __init__(self, field: str) -> None:
        self.field = field
        self._item = itemgetter(field)
        self._attr = attrgetter(field)
        self._by_type: dict[type, Callable[[Any], Any]] = {dict: self._item}

    def __call__(self, obj: Any) -> Any:
        get = self._by_type.get(type(obj))
        if get is None:
            get = self._by_type[type(obj)] = self._item if isinstance(obj, Mapping) else self._attr
        try:
            return get(obj)
        except (AttributeError, KeyError):
            raise IndexerError(f"field '{self.field}' for {obj!r} is invalid") from None
