"""`raftstore bench`: one command that compares raftstore's layers against their peers, fairly, on this machine.

    raftstore bench [layer ...] [--quick] [--rounds N] [--json FILE] [--plot DIR] [--baseline LAYER=BACKEND]
                    [--backend LAYER=module:object]
    raftstore bench compare A.json B.json

See `harness` for how fairness on a noisy machine is kept, `registry` for plugging in a backend of your own, and
`report` for the table and the JSON document. Layers: radix, memdb, logstore, fsm, snapshot (Raft snapshot
stores), cluster (Raft), http (the agent's KV API). The cluster and http layers also report latency percentiles
(`harness.Measured`).
"""

from raftstore.bench.harness import BackendSpec, Context, Layer, Results, Unavailable, Workload, run_layer
from raftstore.bench.registry import layers, register_backend

__all__ = [
    "BackendSpec",
    "Context",
    "Layer",
    "Results",
    "Unavailable",
    "Workload",
    "layers",
    "register_backend",
    "run_layer",
]
