"""Consul's state store on raftstore.memdb: KV (with tombstones), sessions, the catalog, transactions, and the
index table that makes blocking queries work. `StateStore` is the facade; the modules hold one concern each."""

from raftstore.state.errors import InvalidRequestError, StateError
from raftstore.state.records import DirEntry
from raftstore.state.store import StateStore

__all__ = ["DirEntry", "InvalidRequestError", "StateError", "StateStore"]
