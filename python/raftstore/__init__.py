"""raftstore: HashiCorp Consul's cluster persistence for Python, with a C hot path.

Layers (imports flow downward only): agent -> fsm / autopilot -> state / raft -> memdb / logstore -> radix -> csrc.
Only the radix layer exists so far; see README.md for what is built and how to run it.
"""

__version__ = "0.1.0"
