"""Manual outage recovery (hashicorp RecoverCluster, Consul's ``raft/peers.json``).

When quorum is lost for good (most servers destroyed), an operator stops every surviving server, writes the same
peers file on each, and starts them: each then replays its log into its FSM, takes a snapshot carrying the new
configuration at its last index, and drops its log. Entries that were never committed are applied too, exactly as
hashicorp/raft does: recovery trades certainty for availability, which is why it is manual.

Peers file (Consul's version-3 format)::

    [{"id": "server-1", "address": "10.0.0.1:8300", "non_voter": false}, ...]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from raftstore.logstore.log import LogType
from raftstore.logstore.protocols import LogStore, StableStore
from raftstore.raft.configuration import Configuration, Server, Suffrage
from raftstore.raft.errors import RaftError
from raftstore.raft.node.fsm import FSM
from raftstore.raft.snapshots import SnapshotStore
from raftstore.raft.storage import RaftStorage, configuration_to_json


class PeersFileError(RaftError):
    """The peers file is unreadable; the message names the file and the problem."""


def read_peers_file(path: str | os.PathLike[str]) -> Configuration:
    where = Path(path)
    try:
        raw = json.loads(where.read_text())
    except (OSError, ValueError) as error:
        raise PeersFileError(f"{where}: {error}") from None
    if not isinstance(raw, list) or not raw:
        raise PeersFileError(f"{where}: expected a non-empty JSON array of servers")
    servers = []
    for n, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or not isinstance(item.get("address"), str)
        ):
            raise PeersFileError(f"{where}: entry {n} needs string fields id and address")
        non_voter = item.get("non_voter", False)
        if not isinstance(non_voter, bool):
            raise PeersFileError(f"{where}: entry {n}: non_voter must be true or false")
        servers.append(Server(item["id"], item["address"], Suffrage.NONVOTER if non_voter else Suffrage.VOTER))
    if len({s.id for s in servers}) != len(servers):
        raise PeersFileError(f"{where}: duplicate server ids")
    if not any(s.suffrage is Suffrage.VOTER for s in servers):
        raise PeersFileError(f"{where}: at least one server must be a voter")
    return Configuration(tuple(servers))


def recover_cluster(
    fsm: FSM, logs: LogStore, stable: StableStore, snapshots: SnapshotStore, configuration: Configuration
) -> int:
    """Rewrite this (stopped) server's state to hold `configuration`; returns the index of the recovery snapshot.
    `fsm` must be fresh: it is used to rebuild the state and snapshot it."""
    storage = RaftStorage(logs, stable, snapshots)
    boot = storage.boot_state()
    index, term = 0, 0
    opened = storage.open_snapshot()
    if opened is not None:
        meta, reader = opened
        with reader:
            fsm.restore(reader)
        index, term = meta.index, meta.term
    entries = [entry for entry in boot.entries if entry.index > index]
    if entries:
        fsm.apply_batch([e for e in entries if e.type == LogType.COMMAND])
        index, term = entries[-1].index, entries[-1].term
    if index == 0:
        raise RaftError("nothing to recover: this server has no log and no snapshot")
    snapshot = fsm.snapshot()
    sink = snapshots.create(index, term, configuration_to_json(configuration), index)
    try:
        snapshot.persist(sink)
    except BaseException:
        sink.cancel()
        raise
    finally:
        snapshot.release()
    sink.close()
    first, last = logs.first_index(), logs.last_index()
    if last:
        logs.delete_range(first, last)
    return index
