"""Durable Raft log stores behind hashicorp/raft's LogStore and StableStore protocols.

Only the shared record type exists so far: `Log` and `LogType`.
"""

from raftstore.logstore.log import Log, LogType

__all__ = ["Log", "LogType"]
