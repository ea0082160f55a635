"""Autopilot next to the Raft node: the `RaftControl` and `AutopilotDelegate` that `raftstore.autopilot.Autopilot`
needs, and the timers that drive it (update every 2 s, reconcile every 10 s, on the leader only).

Without a gossip layer, a server's liveness is the leader's replication view: a server is alive while it has
answered the leader within `FAILURE_DETECTION_TIMEOUT` (Consul's serf "failed" becomes "not heard from"; health
still uses the shorter `LastContactThreshold`), and its stats are
what the leader knows (time since its last answer, its match index, the leader's term). The configuration comes from
the replicated state (the Autopilot FSM command), Consul's defaults until one is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from raftstore.autopilot import (
    DEFAULT_RECONCILE_INTERVAL,
    DEFAULT_UPDATE_INTERVAL,
    Autopilot,
    AutopilotConfig,
    NodeStatus,
    RaftServer,
    Server,
    ServerStats,
    State,
)
from raftstore.autopilot import Suffrage as APSuffrage
from raftstore.fsm import FSM
from raftstore.raft.configuration import Suffrage
from raftstore.raft.node import Node

log = logging.getLogger(__name__)
_WAIT = 30.0


class NodeRaftControl:
    def __init__(self, node: Node) -> None:
        self.node = node

    def get_configuration(self) -> Sequence[RaftServer]:
        _, configuration = self.node.latest_configuration()
        return [
            RaftServer(s.id, s.address, APSuffrage.VOTER if s.suffrage is Suffrage.VOTER else APSuffrage.NONVOTER)
            for s in configuration.servers
        ]

    def leader(self) -> str:
        return self.node.leader()[0]

    def is_leader(self) -> bool:
        return self.node.is_leader()

    def last_index(self) -> int:
        return self.node.last_index()

    def last_term(self) -> int:
        return self.node.last_term()

    def add_nonvoter(self, server_id: str, address: str) -> None:
        self.node.add_nonvoter(server_id, address).result(_WAIT)

    def add_voter(self, server_id: str, address: str) -> None:
        self.node.add_voter(server_id, address).result(_WAIT)

    def demote_voter(self, server_id: str) -> None:
        self.node.demote_voter(server_id).result(_WAIT)

    def remove_server(self, server_id: str) -> None:
        self.node.remove_server(server_id).result(_WAIT)

    def transfer_leadership(self, server_id: str, address: str) -> None:
        self.node.leadership_transfer(server_id).result(_WAIT)


FAILURE_DETECTION_TIMEOUT = 10.0
"""Seconds without an answer before a server counts as failed (Serf's job in Consul, which takes seconds too).
Health uses autopilot's much shorter LastContactThreshold; removal of dead servers waits for this."""


class NodeDelegate:
    def __init__(self, node: Node, fsm: FSM, failure_timeout: float = FAILURE_DETECTION_TIMEOUT) -> None:
        self.node = node
        self.fsm = fsm
        self.failure_timeout = failure_timeout
        self.state: State | None = None

    def autopilot_config(self) -> AutopilotConfig | None:
        _, config = self.fsm.state.autopilot_config()
        return config if config is not None else AutopilotConfig()

    def known_servers(self) -> Mapping[str, Server]:
        node = self.node
        _, configuration = node.latest_configuration()
        replication = node.replication_status()
        leader = node.leader()[1]
        threshold = max(self.failure_timeout, 2 * node.config.heartbeat_timeout)
        servers = {}
        for s in configuration.servers:
            if s.id == node.id:
                status = NodeStatus.ALIVE
            else:
                seen = replication.get(s.id)
                status = NodeStatus.ALIVE if seen is not None and seen[0] <= threshold else NodeStatus.FAILED
            servers[s.id] = Server(s.id, s.id, s.address, status, is_leader=s.id == leader)
        return servers

    def fetch_server_stats(self, servers: Mapping[str, Server]) -> Mapping[str, ServerStats]:
        node = self.node
        replication = node.replication_status()
        term = node.last_term()
        stats = {}
        for server_id in servers:
            if server_id == node.id:
                stats[server_id] = ServerStats(0, term, node.last_index())
            elif server_id in replication:
                ago, match = replication[server_id]
                stats[server_id] = ServerStats(int(ago * 1e9), term, match)
        return stats

    def remove_failed_server(self, server: Server) -> None:
        log.info("autopilot: removing failed server %s", server.id)
        self.node.remove_server(server.id).result(_WAIT)

    def notify_state(self, state: State) -> None:
        self.state = state


class AutopilotRunner:
    def __init__(
        self,
        node: Node,
        fsm: FSM,
        update_interval: float = DEFAULT_UPDATE_INTERVAL,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        failure_timeout: float = FAILURE_DETECTION_TIMEOUT,
    ) -> None:
        self.node = node
        self.delegate = NodeDelegate(node, fsm, failure_timeout)
        self.autopilot = Autopilot(NodeRaftControl(node), self.delegate)
        self.update_interval = update_interval
        self.reconcile_interval = reconcile_interval

    @property
    def state(self) -> State | None:
        return self.delegate.state if self.node.is_leader() else None

    async def run(self) -> None:
        last_reconcile = 0.0
        was_leader = False
        while True:
            await asyncio.sleep(self.update_interval)
            leader = self.node.is_leader()
            if not leader:
                if was_leader:
                    self.autopilot.reset()
                    self.delegate.state = None
                was_leader = False
                continue
            was_leader = True
            try:
                await asyncio.to_thread(self.autopilot.update, time.time_ns())
                if time.monotonic() - last_reconcile >= self.reconcile_interval:
                    last_reconcile = time.monotonic()
                    await asyncio.to_thread(self.autopilot.reconcile, time.time_ns())
            except Exception as error:  # one bad round must not stop autopilot
                log.warning("autopilot round failed: %s", error)
