"""Indexers: how an object, or a lookup's arguments, become the byte keys of an index tree.

The key encodings are byte-identical to go-memdb's, so that iteration order (and hence every list Consul returns)
is the same: strings are UTF-8 with a NUL terminator (so ``"a"`` sorts before ``"ab"`` and a prefix lookup is the
key without its terminator), ints are big-endian with the sign bit flipped (byte order == numeric order), uints
big-endian, bools one byte, UUIDs their 16 raw bytes.

The interface, in Python terms (go-memdb's ``(ok, val, err)`` becomes "a value, None when missing, or an
exception"):

* ``from_object(obj)``: a single indexer returns ``bytes`` or None (the object has no value for this index); a
  multi indexer (``multi = True``) returns a list of ``bytes`` or None. Malformed fields raise IndexerError.
* ``from_args(*args)``: the exact key a lookup with these arguments must find.
* ``prefix_from_args(*args)`` (only when ``supports_prefix``): the key prefix of a ``<index>_prefix`` lookup.

Two styles, as Consul uses both: generic *field* indexers (``StringFieldIndex("node")``, ...) reading an attribute
or mapping key, and *function* indexers (``SingleFuncIndex``/``MultiFuncIndex``, after Consul's ``indexerSingle``
and friends) built from plain functions that take one query argument.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from raftstore.memdb.errors import IndexerError, SchemaError
from raftstore.memdb.fields import FieldReader


class MissingIndexValue(Exception):
    """Raised by a function indexer's ``from_object`` for "this object has no value here" (Consul's
    ``errMissingValueForIndex``); memdb treats it exactly like returning None."""


class Indexer:
    """Base of every indexer. Subclasses set ``multi`` and implement ``from_object`` / ``from_args``."""

    multi: ClassVar[bool] = False
    supports_prefix: bool = False

    def from_object(self, obj: Any) -> Any:  # bytes | list[bytes] | None; typed precisely in the subclasses
        raise NotImplementedError

    def from_args(self, *args: Any) -> bytes:
        raise NotImplementedError

    def prefix_from_args(self, *args: Any) -> bytes:
        raise IndexerError(f"{type(self).__name__} does not support prefix scanning")


class SingleIndexer(Indexer):
    """One key (or none) per object."""

    def from_object(self, obj: Any) -> bytes | None:
        raise NotImplementedError


class MultiIndexer(Indexer):
    """Any number of keys per object; each is a separate entry in the index pointing at the object."""

    multi = True

    def from_object(self, obj: Any) -> list[bytes] | None:
        raise NotImplementedError


def _single_arg(args: tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise IndexerError("must provide only a single argument")
    return args[0]


def _string_arg(args: tuple[Any, ...], lowercase: bool) -> bytes:
    arg = _single_arg(args)
    if not isinstance(arg, str):
        raise IndexerError(f"argument must be a string: {arg!r}")
    return (arg.lower() if lowercase else arg).encode() + b"\x00"


def _strip_terminator(key: bytes) -> bytes:
    return key[:-1] if key else key


# ---------------------------------------------------------------------------------------------------- strings


class StringFieldIndex(SingleIndexer):
    """A string field, NUL-terminated; an empty string or None is "no value" (go-memdb: empty string => ok=false)."""

    supports_prefix = True

    def __init__(self, field: str, lowercase: bool = False) -> None:
        self.field = field
        self._read = FieldReader(field)
        self.lowercase = lowercase

    def from_object(self, obj: Any) -> bytes | None:
        value = self._read(obj)
        if type(value) is str:  # the common case first: one type check
            if not value:
                return None
            return (value.lower() if self.lowercase else value).encode() + b"\x00"
        if value is None:
            return None
        if not isinstance(value, str):
            raise IndexerError(f"field '{self.field}' is of type {type(value).__name__}; want a string")
        return (value.lower() if self.lowercase else value).encode() + b"\x00"

    def from_args(self, *args: Any) -> bytes:
        return _string_arg(args, self.lowercase)

    def prefix_from_args(self, *args: Any) -> bytes:
        return _strip_terminator(_string_arg(args, self.lowercase))


class StringSliceFieldIndex(MultiIndexer):
    """A list (or tuple) of strings: one NUL-terminated key per non-empty element; none at all is "no value"."""

    supports_prefix = True

    def __init__(self, field: str, lowercase: bool = False) -> None:
        self.field = field
        self._read = FieldReader(field)
        self.lowercase = lowercase

    def from_object(self, obj: Any) -> list[bytes] | None:
        value = self._read(obj)
        if value is None:
            return None
        if type(value) not in (list, tuple) and (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)):
            raise IndexerError(f"field '{self.field}' is not a string slice")
        out = []
        for item in value:
            if type(item) is not str and not isinstance(item, str):
                raise IndexerError(f"field '{self.field}' is not a string slice")
            if item:
                out.append((item.lower() if self.lowercase else item).encode() + b"\x00")
        return out or None

    def from_args(self, *args: Any) -> bytes:
        return _string_arg(args, self.lowercase)

    def prefix_from_args(self, *args: Any) -> bytes:
        return _strip_terminator(_string_arg(args, self.lowercase))


class StringMapFieldIndex(MultiIndexer):
    """A ``str -> str`` mapping: one key ``k\\0v\\0`` per entry with a non-empty key (in byte order).

    As in go-memdb, ``from_args(k)`` (one argument) builds ``k\\0``, which no stored key equals: only the two-argument
    form finds anything with an exact lookup. Kept for byte compatibility (go-memdb documents it as a known bug).
    """

    def __init__(self, field: str, lowercase: bool = False) -> None:
        self.field = field
        self._read = FieldReader(field)
        self.lowercase = lowercase

    def from_object(self, obj: Any) -> list[bytes] | None:
        value = self._read(obj)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise IndexerError(f"field '{self.field}' is not a map[string]string")
        out = []
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise IndexerError(f"field '{self.field}' is not a map[string]string")
            if not k:
                continue
            if self.lowercase:
                k, v = k.lower(), v.lower()
            out.append(k.encode() + b"\x00" + v.encode() + b"\x00")
        out.sort()  # a deterministic order (Go's map order is random)
        return out or None

    def from_args(self, *args: Any) -> bytes:
        if not 1 <= len(args) <= 2:
            raise IndexerError("must provide one or two arguments")
        out = b""
        for arg in args:
            if not isinstance(arg, str):
                raise IndexerError(f"argument must be a string: {arg!r}")
            out += (arg.lower() if self.lowercase else arg).encode() + b"\x00"
        return out


# ---------------------------------------------------------------------------------------------------- numbers

_INT_FORMATS = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}


class _IntegerIndex(SingleIndexer):
    signed: ClassVar[bool]
    kind: ClassVar[str]

    def __init__(self, field: str, size: int = 8) -> None:
        if size not in _INT_FORMATS:
            raise SchemaError(f"{type(self).__name__} size must be 1, 2, 4 or 8 bytes; got {size}")
        self.field = field
        self._read = FieldReader(field)
        self.size = size
        self._pack = struct.Struct(_INT_FORMATS[size]).pack
        # Signed values are shifted by 2**(bits-1): that flips the sign bit of the two's complement, so negative
        # numbers sort before positive ones byte-wise.
        self._bias = 1 << (size * 8 - 1) if self.signed else 0

    def _encode(self, value: Any, what: str) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise IndexerError(f"{what} is of type {type(value).__name__}; want {self.kind}")
        try:
            return self._pack(value + self._bias)
        except struct.error:
            raise IndexerError(f"{what} value {value} does not fit {self.kind} of {self.size} bytes") from None

    def from_object(self, obj: Any) -> bytes | None:
        value = self._read(obj)
        if value is None:
            return None
        return self._encode(value, f"field {self.field!r}")

    def from_args(self, *args: Any) -> bytes:
        return self._encode(_single_arg(args), "arg")


class IntFieldIndex(_IntegerIndex):
    """A signed int field: ``size`` bytes (default 8, Go's int64) big-endian with the sign bit flipped."""

    signed = True
    kind = "an int"


class UintFieldIndex(_IntegerIndex):
    """An unsigned int field: ``size`` bytes (default 8, Go's uint64) big-endian."""

    signed = False
    kind = "a uint"


def _bool_arg(args: tuple[Any, ...]) -> bytes:
    arg = _single_arg(args)
    if not isinstance(arg, bool):
        raise IndexerError(f"argument must be a boolean type: {arg!r}")
    return b"\x01" if arg else b"\x00"


class BoolFieldIndex(SingleIndexer):
    """A bool field: one byte, 0x00 or 0x01."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._read = FieldReader(field)

    def from_object(self, obj: Any) -> bytes | None:
        value = self._read(obj)
        if not isinstance(value, bool):
            raise IndexerError(f"field {self.field!r} is of type {type(value).__name__}; want a bool")
        return b"\x01" if value else b"\x00"

    def from_args(self, *args: Any) -> bytes:
        return _bool_arg(args)


class FieldSetIndex(SingleIndexer):
    """Whether a field is set: 0x00 when it is None or its type's zero value (false, 0, "", empty container),
    0x01 otherwise. Every object has a value (go-memdb: always ok)."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._read = FieldReader(field)

    def from_object(self, obj: Any) -> bytes | None:
        value = self._read(obj)
        return b"\x00" if value is None or not value else b"\x01"

    def from_args(self, *args: Any) -> bytes:
        return _bool_arg(args)


class ConditionalIndex(SingleIndexer):
    """0x01 / 0x00 from a user predicate on the object; its exceptions become IndexerError."""

    def __init__(self, conditional: Callable[[Any], bool]) -> None:
        self.conditional = conditional

    def from_object(self, obj: Any) -> bytes | None:
        try:
            result = self.conditional(obj)
        except Exception as exc:
            raise IndexerError(f"ConditionalIndexFunc({obj!r}) failed: {exc}") from exc
        return b"\x01" if result else b"\x00"

    def from_args(self, *args: Any) -> bytes:
        return _bool_arg(args)


# ---------------------------------------------------------------------------------------------------- UUIDs


def _parse_uuid(s: str, enforce_length: bool) -> bytes:
    """go-memdb's parseString: 36 hyphenated hex chars, or (for prefixes) any even number of hex digits."""
    n = len(s)
    if enforce_length and n != 36:
        raise IndexerError("UUID must be 36 characters")
    if n > 36:
        raise IndexerError(f"Invalid UUID length. UUID have 36 characters; got {n}")
    hyphens = s.count("-")
    if hyphens > 4:
        raise IndexerError(f'UUID should have maximum of 4 "-"; got {hyphens}')
    digits = s.replace("-", "")
    if len(digits) % 2:
        raise IndexerError("Input (without hyphens) must be even length")
    try:
        return bytes.fromhex(digits)
    except ValueError as exc:
        raise IndexerError(f"Invalid UUID: {exc}") from None


class UUIDFieldIndex(SingleIndexer):
    """A UUID field (a 36-char string or a ``uuid.UUID``) stored as its 16 raw bytes; prefix lookups take a partial
    hex string of even length (hyphens allowed)."""

    supports_prefix = True

    def __init__(self, field: str) -> None:
        self.field = field
        self._read = FieldReader(field)

    def from_object(self, obj: Any) -> bytes | None:
        value = self._read(obj)
        if value is None or value == "":
            return None
        if isinstance(value, uuid.UUID):
            return value.bytes
        if not isinstance(value, str):
            raise IndexerError(f"field {self.field!r} is of type {type(value).__name__}; want a UUID string")
        return _parse_uuid(value, True)

    def from_args(self, *args: Any) -> bytes:
        arg = _single_arg(args)
        if isinstance(arg, str):
            return _parse_uuid(arg, True)
        if isinstance(arg, uuid.UUID):
            return arg.bytes
        if isinstance(arg, (bytes, bytearray)):
            if len(arg) != 16:
                raise IndexerError("byte slice must be 16 characters")
            return bytes(arg)
        raise IndexerError(f"argument must be a string or byte slice: {arg!r}")

    def prefix_from_args(self, *args: Any) -> bytes:
        arg = _single_arg(args)
        if isinstance(arg, str):
            return _parse_uuid(arg, False)
        if isinstance(arg, (bytes, bytearray)):
            return bytes(arg)
        raise IndexerError(f"argument must be a string or byte slice: {arg!r}")


# ---------------------------------------------------------------------------------------------------- compounds


class CompoundIndex(SingleIndexer):
    """The concatenation of several single indexers' keys. With ``allow_missing`` the key stops at the first
    sub-index without a value (so a prefix of the columns is indexed); otherwise any missing one means no value.
    A prefix lookup takes exact values for all but its last argument, and a prefix for the last."""

    def __init__(self, indexes: Sequence[Indexer], allow_missing: bool = False) -> None:
        for i, sub in enumerate(indexes):
            if not isinstance(sub, SingleIndexer):
                raise SchemaError(f"sub-index {i} error: sub-index must be a SingleIndexer")
        if not indexes:
            raise SchemaError("CompoundIndex needs at least one sub-index")
        self.indexes: list[SingleIndexer] = list(indexes)  # type: ignore[arg-type]  # checked just above
        self.allow_missing = allow_missing
        self.supports_prefix = True

    def from_object(self, obj: Any) -> bytes | None:
        out = b""
        for i, sub in enumerate(self.indexes):
            try:
                value = sub.from_object(obj)
            except IndexerError as exc:
                raise IndexerError(f"sub-index {i} error: {exc}") from exc
            if value is None:
                if self.allow_missing:
                    break
                return None
            out += value
        return out

    def from_args(self, *args: Any) -> bytes:
        if len(args) != len(self.indexes):
            raise IndexerError("non-equivalent argument count and index fields")
        return b"".join(self._sub(i, False, arg) for i, arg in enumerate(args))

    def prefix_from_args(self, *args: Any) -> bytes:
        if len(args) > len(self.indexes):
            raise IndexerError("more arguments than index fields")
        last = len(args) - 1
        return b"".join(self._sub(i, i == last, arg) for i, arg in enumerate(args))

    def _sub(self, i: int, prefix: bool, arg: Any) -> bytes:
        sub = self.indexes[i]
        if prefix and not sub.supports_prefix:
            raise IndexerError(f"sub-index {i} does not support prefix scanning")
        try:
            return sub.prefix_from_args(arg) if prefix else sub.from_args(arg)
        except IndexerError as exc:
            raise IndexerError(f"sub-index {i} error: {exc}") from exc


class CompoundMultiIndex(MultiIndexer):
    """Like CompoundIndex, but sub-indexers may be multi-valued: the keys are the cartesian product of the
    sub-keys, in order. With ``allow_missing`` the sub-indexes up to the first missing one are used, and lookups
    may pass fewer arguments. A StringMapFieldIndex sub-index always takes two arguments (key, value; value None
    for the one-argument form). No prefix lookups, as in go-memdb.

    One deliberate difference: when ``allow_missing`` truncates the key after a multi-valued sub-index, go-memdb
    emits only that sub-index's first value (an early return in its walk); every value is emitted here.
    """

    def __init__(self, indexes: Sequence[Indexer], allow_missing: bool = False) -> None:
        if not indexes:
            raise SchemaError("CompoundMultiIndex needs at least one sub-index")
        self.indexes = list(indexes)
        self.allow_missing = allow_missing

    def from_object(self, obj: Any) -> list[bytes] | None:
        keys = [b""]
        for i, sub in enumerate(self.indexes):
            try:
                value = sub.from_object(obj)
            except IndexerError as exc:
                kind = "multi" if sub.multi else "single"
                raise IndexerError(f"{kind} sub-index {i} error: {exc}") from exc
            if value is None:
                if not self.allow_missing:
                    return None
                return keys if i else []  # nothing indexed when even the first sub-index is missing
            parts = value if sub.multi else [value]
            keys = [k + p for k in keys for p in parts]
        return keys

    def from_args(self, *args: Any) -> bytes:
        needed = sum(2 if isinstance(sub, StringMapFieldIndex) else 1 for sub in self.indexes)
        if self.allow_missing:
            if len(args) > needed:
                raise IndexerError("too many arguments")
        elif len(args) != needed:
            raise IndexerError("number of arguments does not equal number of indexers")
        out = b""
        pos = 0
        for i, sub in enumerate(self.indexes):
            if pos >= len(args):
                break
            try:
                if isinstance(sub, StringMapFieldIndex):
                    if pos + 1 >= len(args):
                        raise IndexerError("invalid number of arguments")
                    pair = args[pos : pos + 2] if args[pos + 1] is not None else args[pos : pos + 1]
                    out += sub.from_args(*pair)
                    pos += 2
                else:
                    out += sub.from_args(args[pos])
                    pos += 1
            except IndexerError as exc:
                raise IndexerError(f"sub-index {i} error: {exc}") from exc
        return out


# ---------------------------------------------------------------------------------------------------- functions


def _one_query_arg(args: tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise IndexerError("index supports only a single arg")
    return args[0]


class SingleFuncIndex(SingleIndexer):
    """Consul's function-style single indexer: ``from_object(obj)`` returns the key (None, or raising
    MissingIndexValue, for no value); ``from_args(query)`` and ``prefix_from_args(query)`` take exactly one
    argument (a query object when the lookup needs several values)."""

    def __init__(
        self,
        from_object: Callable[[Any], bytes | None],
        from_args: Callable[[Any], bytes],
        prefix_from_args: Callable[[Any], bytes] | None = None,
    ) -> None:
        self._write = from_object
        self._read = from_args
        self._prefix = prefix_from_args
        self.supports_prefix = prefix_from_args is not None

    def from_object(self, obj: Any) -> bytes | None:
        try:
            return self._write(obj)
        except MissingIndexValue:
            return None

    def from_args(self, *args: Any) -> bytes:
        return self._read(_one_query_arg(args))

    def prefix_from_args(self, *args: Any) -> bytes:
        if self._prefix is None:
            return super().prefix_from_args(*args)
        return self._prefix(_one_query_arg(args))


class MultiFuncIndex(MultiIndexer):
    """Consul's function-style multi indexer: ``from_object(obj)`` returns a list of keys (None, an empty list,
    or raising MissingIndexValue for none)."""

    def __init__(
        self,
        from_object: Callable[[Any], Sequence[bytes] | None],
        from_args: Callable[[Any], bytes],
        prefix_from_args: Callable[[Any], bytes] | None = None,
    ) -> None:
        self._write = from_object
        self._read = from_args
        self._prefix = prefix_from_args
        self.supports_prefix = prefix_from_args is not None

    def from_object(self, obj: Any) -> list[bytes] | None:
        try:
            values = self._write(obj)
        except MissingIndexValue:
            return None
        return list(values) if values else None

    def from_args(self, *args: Any) -> bytes:
        return self._read(_one_query_arg(args))

    def prefix_from_args(self, *args: Any) -> bytes:
        if self._prefix is None:
            return super().prefix_from_args(*args)
        return self._prefix(_one_query_arg(args))


class IndexBuilder:
    """Consul's ``indexBuilder``: assemble a key from parts in one buffer (for function indexers)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def string(self, value: str) -> IndexBuilder:
        """Append ``value`` NUL-terminated, as StringFieldIndex encodes it."""
        self._buf += value.encode()
        self._buf.append(0)
        return self

    def raw(self, value: bytes) -> IndexBuilder:
        self._buf += value
        return self

    def bool(self, value: bool) -> IndexBuilder:
        self._buf.append(1 if value else 0)
        return self

    def bytes(self) -> bytes:
        return bytes(self._buf)
