"""The exceptions of raftstore.memdb: one base class, so a caller can catch every memdb failure at once.

The messages follow go-memdb's wording (``missing value for index 'x'``, ``invalid table 'x'``, ...) so that logs
and tests read the same as Consul's.
"""

from __future__ import annotations


class MemDBError(Exception):
    """Base class of every error memdb raises."""


class SchemaError(MemDBError):
    """The schema is malformed (raised by ``DBSchema.validate`` and so by ``MemDB(...)``)."""


class IndexerError(MemDBError):
    """An indexer could not build a key: wrong argument count or type, unreadable field, bad UUID, ..."""


class NotFoundError(MemDBError, LookupError):
    """``Txn.delete`` of an object whose primary key is not in the table (go-memdb's ``ErrNotFound``)."""

    def __init__(self, message: str = "not found") -> None:
        super().__init__(message)


class TxnError(MemDBError):
    """The transaction cannot do this: a write on a read transaction, or any use after commit/abort."""
