"""What every backend shares on top of its own get/set and close: uint64 values and the context-manager protocol."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from raftstore.logstore.errors import CorruptionError, InvalidEntryError

_U64_MAX = (1 << 64) - 1


class StoreMixin:
    """Mixed into each backend after the class that provides `set`, `get` and `close`.

    uint64 values are stored as 8 big-endian bytes, as raft-boltdb does, so a value set through `set_uint64` reads
    back through `get` in the same form on every backend.
    """

    def set(self, key: bytes, value: bytes) -> None:
        raise NotImplementedError

    def get(self, key: bytes) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def set_uint64(self, key: bytes, value: int) -> None:
        if not 0 <= value <= _U64_MAX:
            raise InvalidEntryError(f"{value} is not a uint64")
        self.set(key, value.to_bytes(8, "big"))

    def get_uint64(self, key: bytes) -> int:
        raw = self.get(key)
        if raw is None:
            return 0
        if len(raw) != 8:
            raise CorruptionError(f"stable-store key {key!r} holds {len(raw)} bytes, not a uint64")
        return int.from_bytes(raw, "big")

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
