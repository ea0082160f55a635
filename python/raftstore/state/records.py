"""The state store's records with Consul's Go field names, and their msgpack shapes.

KV entries are a slotted class (`DirEntry`) because they are the hot path and callers read them as attributes
(`entry.ModifyIndex`); every other record is a plain dict keyed by Consul's field names, which is exactly the map
Consul's Go codec writes for the struct (anonymous embedded RaftIndex inlined), so persisting it is free.

Invariant: records are never mutated once inserted into memdb (readers share them): writers build a copy.
"""

from __future__ import annotations

from typing import Any

from raftstore.state.errors import InvalidRequestError


class DirEntry:
    """Consul's `structs.DirEntry`: one KV pair with its lock state and Raft indexes."""

    __slots__ = ("CreateIndex", "Flags", "Key", "LockIndex", "ModifyIndex", "Session", "Value")

    def __init__(
        self,
        Key: str,
        Value: bytes = b"",
        Flags: int = 0,
        Session: str = "",
        LockIndex: int = 0,
        CreateIndex: int = 0,
        ModifyIndex: int = 0,
    ) -> None:
        self.Key = Key
        self.Value = Value
        self.Flags = Flags
        self.Session = Session
        self.LockIndex = LockIndex
        self.CreateIndex = CreateIndex
        self.ModifyIndex = ModifyIndex

    def copy(self) -> DirEntry:
        return DirEntry(
            self.Key, self.Value, self.Flags, self.Session, self.LockIndex, self.CreateIndex, self.ModifyIndex
        )

    def same_content(self, other: DirEntry) -> bool:
        """Consul's `DirEntry.Equal`: what a `set` compares to decide that it changes nothing (indexes excluded)."""
        return (
            self.Key == other.Key
            and self.Value == other.Value
            and self.Flags == other.Flags
            and self.Session == other.Session
            and self.LockIndex == other.LockIndex
        )

    def to_record(self) -> dict[str, Any]:
        """The map Consul's codec writes for a DirEntry (field order as in the Go struct, RaftIndex inlined)."""
        return {
            "LockIndex": self.LockIndex,
            "Key": self.Key,
            "Flags": self.Flags,
            "Value": self.Value if self.Value else None,
            "Session": self.Session,
            "CreateIndex": self.CreateIndex,
            "ModifyIndex": self.ModifyIndex,
        }

    @classmethod
    def from_record(cls, record: Any, what: str = "DirEnt") -> DirEntry:
        """Build from a decoded map with Consul's field names; InvalidRequestError for a malformed one.

        The hot path of apply and restore: well-typed fields pass with one `type()` check each; anything else
        goes through the slow converters, which accept nil and refuse the rest."""
        if type(record) is not dict:
            raise InvalidRequestError(f"{what} must be a map, got {type(record).__name__}")
        get = record.get
        key = get("Key")
        if type(key) is not str:
            key = _string(key, f"{what}.Key")
        value = get("Value")
        if type(value) is str:
            value = value.encode("utf-8", "surrogateescape")
        elif type(value) is not bytes:
            value = _bytes(value, f"{what}.Value")
        session = get("Session", "")
        if type(session) is not str:
            session = _string(session, f"{what}.Session")
        flags = get("Flags", 0)
        if type(flags) is not int or not 0 <= flags < _U64:
            flags = _uint(flags, f"{what}.Flags")
        lock_index = get("LockIndex", 0)
        if type(lock_index) is not int or not 0 <= lock_index < _U64:
            lock_index = _uint(lock_index, f"{what}.LockIndex")
        create_index = get("CreateIndex", 0)
        if type(create_index) is not int or not 0 <= create_index < _U64:
            create_index = _uint(create_index, f"{what}.CreateIndex")
        modify_index = get("ModifyIndex", 0)
        if type(modify_index) is not int or not 0 <= modify_index < _U64:
            modify_index = _uint(modify_index, f"{what}.ModifyIndex")
        return cls(key, value, flags, session, lock_index, create_index, modify_index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DirEntry):
            return NotImplemented
        return self.same_content(other) and (self.CreateIndex, self.ModifyIndex) == (
            other.CreateIndex,
            other.ModifyIndex,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"DirEntry(Key={self.Key!r}, Value={self.Value!r:.40}, Flags={self.Flags}, Session={self.Session!r}, "
            f"LockIndex={self.LockIndex}, CreateIndex={self.CreateIndex}, ModifyIndex={self.ModifyIndex})"
        )


_U64 = 1 << 64


def _bytes(value: Any, field: str) -> bytes:
    """A Go []byte field: decoded raw arrives as str (surrogateescape, see raftstore.fsm.codec), nil as None."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    raise InvalidRequestError(f"{field} must be bytes, got {type(value).__name__}")


def _string(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a string, got {type(value).__name__}")
    return value


def _uint(value: Any, field: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise InvalidRequestError(f"{field} must be an unsigned 64-bit integer, got {value!r:.40}")
    return value


def string_field(record: dict[str, Any], field: str, what: str) -> str:
    """`record[field]` as a string ("" when absent), InvalidRequestError otherwise."""
    return _string(record.get(field), f"{what}.{field}")


def uint_field(record: dict[str, Any], field: str, what: str) -> int:
    """`record[field]` as a uint64 (0 when absent), InvalidRequestError otherwise."""
    return _uint(record.get(field), f"{what}.{field}")


def map_field(record: dict[str, Any], field: str, what: str) -> dict[str, Any]:
    value = record.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{what}.{field} must be a map, got {type(value).__name__}")
    return value


def string_list_field(record: dict[str, Any], field: str, what: str) -> list[str]:
    value = record.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequestError(f"{what}.{field} must be a list of strings")
    return list(value)


def node_service(svc: dict[str, Any]) -> dict[str, Any]:
    """A stored service row (Consul's flat ServiceNode) as the NodeService a RegisterRequest or txn result carries."""
    return {
        "Kind": svc["ServiceKind"],
        "ID": svc["ServiceID"],
        "Service": svc["ServiceName"],
        "Tags": svc["ServiceTags"],
        "Address": svc["ServiceAddress"],
        "Meta": svc["ServiceMeta"],
        "Port": svc["ServicePort"],
        "CreateIndex": svc["CreateIndex"],
        "ModifyIndex": svc["ModifyIndex"],
    }
