"""Raft peers for the cluster benchmark (benchmarks/cluster.py --peer NAME): the same workload as raftstore's own run,
on other Raft implementations, in the same run and on the same machine.

Every peer runs three (or ``servers``) server processes on 127.0.0.1 with durable storage, submits commands of a
``key_size``-byte key and a ``value_size``-byte value with ``in_flight`` commands outstanding for ``seconds``, and
answers one dict: ``commits_per_s``, ``p50_us``, ``p99_us``, ``ops``, ``peer``, ``version`` (plus ``errors`` and a
``note`` saying how the load reaches that peer, since the peers differ there).

A peer whose software is not installed (or does not build) raises :class:`PeerUnavailable` whose message is the
reason plus the exact command that installs it; the caller reports it as skipped rather than failing.
"""

from __future__ import annotations

import pathlib
from typing import Any

from ._support import PeerUnavailable

__all__ = ["PEERS", "PeerUnavailable", "run"]

PEERS = ("hashicorp-raft", "etcd", "pysyncobj")


def run(
    name: str,
    *,
    servers: int,
    in_flight: int,
    seconds: float,
    key_size: int = 16,
    value_size: int = 128,
    workdir: pathlib.Path,
) -> dict[str, Any]:
    """Run peer ``name`` once and return its figures; every process it starts is ended before it returns."""
    if servers < 1 or in_flight < 1 or seconds <= 0 or key_size < 8 or value_size < 0:
        raise ValueError("need servers >= 1, in_flight >= 1, seconds > 0, key_size >= 8, value_size >= 0")
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "hashicorp-raft":
        from . import hashicorp_raft as peer
    elif name == "etcd":
        from . import etcd as peer  # type: ignore[no-redef]
    elif name == "pysyncobj":
        from . import pysyncobj_peer as peer  # type: ignore[no-redef]
    else:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    result = peer.run(
        servers=servers,
        in_flight=in_flight,
        seconds=seconds,
        key_size=key_size,
        value_size=value_size,
        workdir=workdir / name,
    )
    return {"peer": name, "servers": servers, "in_flight": in_flight, **result}
