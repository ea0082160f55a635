"""The Raft runtime: `Node` (hashicorp/raft's API over `RaftCore`), its FSM protocol, futures and transports."""

from raftstore.raft.node.fsm import FSM, FSMSnapshot
from raftstore.raft.node.futures import RaftFuture
from raftstore.raft.node.node import Node, single_server_configuration
from raftstore.raft.node.observe import ConfigurationObservation, LeaderObservation, Observation, StateObservation
from raftstore.raft.node.transports import TransportFactory, memory_transport, tcp_transport

__all__ = [
    "FSM",
    "ConfigurationObservation",
    "FSMSnapshot",
    "LeaderObservation",
    "Node",
    "Observation",
    "RaftFuture",
    "StateObservation",
    "TransportFactory",
    "memory_transport",
    "single_server_configuration",
    "tcp_transport",
]
