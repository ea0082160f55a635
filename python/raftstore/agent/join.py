"""How servers find each other without a gossip layer: join requests over the Raft transport.

Consul servers discover each other through Serf and bootstrap once `bootstrap_expect` servers are known. raftstore
has no gossip layer, so ``--retry-join`` names other servers' *Raft* addresses, and servers introduce themselves
with a small frame on the Raft transport (the same port, the same TLS):

- JOIN ``{"id", "address", "state", "add"}``: "I am `id` at `address`; I do (not) hold Raft state; please add me";
- WELCOME ``{"id", "address", "state", "leader"}``: the answer, with the answerer's known leader address.

Bootstrap (`bootstrap_expect` = N): a server with no state keeps asking its retry-join peers; once it knows N
servers (itself included) and none holds state, it bootstraps with exactly those N, sorted by id. Every server
computes the same set, provided each lists the others, so they all write the same first configuration (which is
what hashicorp's BootstrapCluster requires). A server that meets one holding state instead asks to be added: the
leader adds it as a non-voter, which autopilot promotes once it is stable (a follower passes the request on to the
leader).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgpack

from raftstore.raft import Configuration, Server
from raftstore.raft.node import Node
from raftstore.raft.wire import WireError

log = logging.getLogger(__name__)

JOIN_KIND = 100
WELCOME_KIND = 101


def _decode(payload: bytes, what: str) -> dict[str, Any]:
    try:
        raw = msgpack.unpackb(payload, raw=False)
    except (ValueError, msgpack.UnpackException) as error:
        raise WireError(f"{what}: malformed msgpack: {error}") from None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("id"), str)
        or not raw["id"]
        or not isinstance(raw.get("address"), str)
        or not raw["address"]
        or not isinstance(raw.get("state"), bool)
    ):
        raise WireError(f"{what}: expected {{id, address, state}}")
    return raw


class Joiner:
    """Runs on the agent's loop; see the module docstring."""

    def __init__(self, node: Node, retry_join: list[str], bootstrap_expect: int, interval: float = 0.5) -> None:
        self.node = node
        self.retry_join = [a for a in retry_join if a != node.address]
        self.bootstrap_expect = bootstrap_expect
        self.interval = interval
        self.known: dict[str, dict[str, Any]] = {}
        self._leaders: set[str] = set()
        node.register_handler(JOIN_KIND, self._on_join)
        node.register_handler(WELCOME_KIND, self._on_welcome)

    def _me(self, add: bool = False) -> bytes:
        node = self.node
        body = {
            "id": node.id,
            "address": node.address,
            "state": node.has_state(),
            "add": add,
            "leader": node.leader()[0],
        }
        packed: bytes = msgpack.packb(body, use_bin_type=True)
        return packed

    def member(self) -> bool:
        return self.node.latest_configuration()[1].get(self.node.id) is not None

    # -------------------------------------------------------------------------------------- loop thread
    def _on_join(self, sender: str, payload: bytes) -> None:
        request = _decode(payload, "join")
        self.known[request["id"]] = request
        node = self.node
        node.send_frame(request["address"], WELCOME_KIND, self._me())
        if not request.get("add"):
            return
        if node.is_leader():
            if node.latest_configuration()[1].get(request["id"]) is None:
                log.info("adding server %s at %s as a non-voter", request["id"], request["address"])
                node.add_nonvoter(request["id"], request["address"])
        else:
            leader_address = node.leader()[0]
            if leader_address:
                node.send_frame(leader_address, JOIN_KIND, payload)

    def _on_welcome(self, sender: str, payload: bytes) -> None:
        reply = _decode(payload, "welcome")
        self.known[reply["id"]] = reply
        leader = reply.get("leader")
        if isinstance(leader, str) and leader:
            self._leaders.add(leader)

    # -------------------------------------------------------------------------------------- agent loop
    async def run(self, rejoin_interval: float = 5.0) -> None:
        """Until this server is in a configuration: introduce itself, bootstrap or ask to be added. Then keep
        introducing itself every `rejoin_interval` seconds: a server autopilot removed while it was down cannot
        know it was removed, so the leader re-adds any server that announces itself and is not in its
        configuration (Consul's leader does the same when Serf reports a live server missing from Raft)."""
        await self._until_member()
        while True:
            await asyncio.sleep(rejoin_interval)
            for address in set(self.retry_join) | self._leaders:
                self.node.send_frame(address, JOIN_KIND, self._me(add=True))

    async def _until_member(self) -> None:
        node = self.node
        while not self.member():
            others_hold_state = any(info["state"] for info in self.known.values())
            targets = set(self.retry_join) | self._leaders
            for address in targets:
                node.send_frame(address, JOIN_KIND, self._me(add=others_hold_state))
            if (
                self.bootstrap_expect
                and not node.has_state()
                and not others_hold_state
                and len(self.known) + 1 >= self.bootstrap_expect
            ):
                servers = {node.id: node.address, **{i: info["address"] for i, info in self.known.items()}}
                chosen = sorted(servers.items())[: self.bootstrap_expect]
                if node.id in dict(chosen):
                    configuration = Configuration(tuple(Server(i, a) for i, a in chosen))
                    log.info("bootstrapping a cluster of %d: %s", len(chosen), ", ".join(i for i, _ in chosen))
                    try:
                        await node.bootstrap_cluster(configuration)
                    except Exception as error:
                        log.warning("bootstrap failed: %s", error)
            await asyncio.sleep(self.interval)
