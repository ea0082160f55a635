"""The Raft links of an N-server cluster routed through one `FaultProxy`, one link per ordered pair of servers.

Server i reaches server j by dialling the proxy's link ``"i->j"``, which forwards to j's real Raft address. A
link per ordered pair (not per destination) is what makes partitions selective: cutting s1 off cuts s1->s2,
s1->s3, s2->s1 and s3->s1 while s2<->s3 keeps flowing. Since a Raft configuration holds one address per server,
each server process must be told to dial its peers through its own links: `dial_map(i)` maps each peer's
advertised Raft address to the proxy address server i must dial instead (the launcher passes it to the agent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from raftstore.testing.faults.proxy import FaultProxy


def link_name(source: int, target: int) -> str:
    return f"{source}->{target}"


class ProxyMesh:
    """Links between every ordered pair of `raft_addresses` (``(host, port)`` per server, 0-based)."""

    def __init__(self, raft_addresses: Sequence[tuple[str, int]], seed: int | None = None) -> None:
        self.raft_addresses = list(raft_addresses)
        self.proxy = FaultProxy(seed=seed)
        try:
            for i in range(len(self.raft_addresses)):
                for j, (host, port) in enumerate(self.raft_addresses):
                    if i != j:
                        self.proxy.add_link(link_name(i, j), host, port)
        except BaseException:
            self.proxy.close()
            raise

    @property
    def servers(self) -> int:
        return len(self.raft_addresses)

    def dial_map(self, source: int) -> dict[str, str]:
        """``{"host:port" of peer j: "host:port" server `source` must dial to reach j}``."""
        out = {}
        for j, (host, port) in enumerate(self.raft_addresses):
            if j != source:
                proxy_host, proxy_port = self.proxy.address(link_name(source, j))
                out[f"{host}:{port}"] = f"{proxy_host}:{proxy_port}"
        return out

    def _pairs(self, group: Iterable[int]) -> list[tuple[int, int]]:
        inside = set(group)
        return [
            (i, j)
            for i in range(self.servers)
            for j in range(self.servers)
            if i != j and (i in inside) != (j in inside)
        ]

    def isolate(self, group: Iterable[int]) -> None:
        """Cut `group` off from the other servers, both ways."""
        for i, j in self._pairs(group):
            self.proxy.partition(link_name(i, j))

    def silence(self, group: Iterable[int]) -> None:
        """One way: what `group` sends to the others is held; what the others send to it still arrives."""
        inside = set(group)
        for i, j in self._pairs(inside):
            if i in inside:
                self.proxy.partition(link_name(i, j), "forward")

    def _touching(self, group: Iterable[int]) -> list[str]:
        inside = set(group)
        return [
            link_name(i, j)
            for i in range(self.servers)
            for j in range(self.servers)
            if i != j and (i in inside or j in inside)
        ]

    def delay(self, group: Iterable[int], seconds: float) -> None:
        for name in self._touching(group):
            self.proxy.set_delay(name, seconds, jitter=seconds / 4)

    def drop(self, group: Iterable[int], probability: float) -> None:
        for name in self._touching(group):
            self.proxy.set_drop(name, probability)
            self.proxy.drop_connections(name)

    def heal(self) -> None:
        self.proxy.heal()

    def close(self) -> None:
        self.proxy.close()
