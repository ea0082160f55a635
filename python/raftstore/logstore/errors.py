"""The log stores' errors: one base class, so that callers (the Raft core) can catch every storage failure at once."""

from __future__ import annotations


class LogStoreError(Exception):
    """Base class of every error a log store or stable store raises."""


class CorruptionError(LogStoreError):
    """A damaged file: the message names the file and the byte offset. Nothing is returned from damaged data."""


class LogNotFoundError(LogStoreError):
    """No entry at the requested index (hashicorp/raft's ErrLogNotFound)."""


class NonContiguousError(LogStoreError):
    """A gap or a rewind in appended indexes (the log is monotonic), or a delete_range in the middle of the log."""


class InvalidEntryError(LogStoreError, ValueError):
    """An entry the store cannot hold: index 0, an unknown type, an oversized payload, a malformed encoded batch."""


class StoreClosedError(LogStoreError):
    """The store was closed."""


class StoreFailedError(LogStoreError):
    """An earlier write or sync failed, so what is on disk is unknown: the store refuses writes until reopened."""


class StoreLockedError(LogStoreError):
    """Another open store (in this or another process) holds the directory."""


class LogStoreIOError(LogStoreError, OSError):
    """An operating-system call failed."""
