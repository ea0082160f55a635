"""Raft transports: framed one-way streams over TCP (optionally TLS), and an in-memory twin for tests."""

from raftstore.raft.transport.framing import DEFAULT_MAX_FRAME, FrameDecoder, FrameError, encode_frame
from raftstore.raft.transport.memory import InMemoryNetwork, InMemoryTransport
from raftstore.raft.transport.tcp import Lane, LinkStats, TCPTransport, parse_address

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FrameDecoder",
    "FrameError",
    "InMemoryNetwork",
    "InMemoryTransport",
    "Lane",
    "LinkStats",
    "TCPTransport",
    "encode_frame",
    "parse_address",
]
