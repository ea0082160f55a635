"""Raft servers as separate processes, for fault tests and the cluster benchmark: `server` is the process (a `Node`
with a WAL, file snapshots and a small KV FSM, plus a line-JSON control socket), `cluster` launches and drives them.
"""
