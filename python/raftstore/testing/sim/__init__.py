"""The seeded fault simulator: `run_seed(seed, servers, ops)` runs N Raft cores through faults and checks them.

Run many from the command line with ``python -m raftstore.testing.sim --seeds N``; replay one with
``--seed S --trace``.
"""

from raftstore.testing.sim.cluster import Faults, Harness, SimResult, Simulation, run_seed
from raftstore.testing.sim.invariants import Invariants, InvariantViolation

__all__ = ["Faults", "Harness", "InvariantViolation", "Invariants", "SimResult", "Simulation", "run_seed"]
