"""raftstore's public test kit: tools for proving a replicated store correct, usable on your own cluster too.

- `history`: the operation-record format for key-value client histories (what a checker reads).
- `linearizability`: a Wing-Gong / Porcupine-style checker for those histories.
- `sim`: a seeded, deterministic simulator that drives Raft cores through faults and checks every invariant.
"""
