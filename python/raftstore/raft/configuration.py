"""Cluster membership (hashicorp/raft configuration.go): servers with a suffrage, single-server changes, encoding.

A configuration takes effect on a server as soon as its entry is appended to that server's log, and the leader
allows at most one uncommitted configuration at a time (hashicorp membership.md): with single-server changes, any
two consecutive configurations' majorities overlap, so no joint consensus is needed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgpack

from raftstore.raft.errors import ConfigurationChangeError, CorruptStateError


class Suffrage(enum.IntEnum):
    """hashicorp's numbering (Staging is deprecated and never produced)."""

    VOTER = 0
    NONVOTER = 1
    STAGING = 2


@dataclass(frozen=True, slots=True)
class Server:
    id: str
    address: str = ""
    suffrage: Suffrage = Suffrage.VOTER


@dataclass(frozen=True, slots=True)
class Configuration:
    """An ordered, duplicate-free tuple of servers."""

    servers: tuple[Server, ...] = ()

    def __post_init__(self) -> None:
        ids = [server.id for server in self.servers]
        if len(set(ids)) != len(ids):
            raise ConfigurationChangeError(f"duplicate server id in configuration {ids}")

    @property
    def voters(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.servers if s.suffrage == Suffrage.VOTER)

    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.servers)

    def is_voter(self, server_id: str) -> bool:
        return any(s.id == server_id and s.suffrage == Suffrage.VOTER for s in self.servers)

    def get(self, server_id: str) -> Server | None:
        for server in self.servers:
            if server.id == server_id:
                return server
        return None

    def encode(self) -> bytes:
        """msgpack list of [id, address, suffrage]: the data of a CONFIGURATION log entry and of snapshot meta."""
        packed: bytes = msgpack.packb([[s.id, s.address, int(s.suffrage)] for s in self.servers])
        return packed

    @classmethod
    def decode(cls, data: bytes) -> Configuration:
        try:
            raw = msgpack.unpackb(data)
            servers = tuple(Server(str(i), str(a), Suffrage(int(s))) for i, a, s in raw)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
            raise CorruptStateError(f"undecodable configuration entry: {error}") from None
        return cls(servers)


class ChangeKind(enum.Enum):
    ADD_VOTER = "add_voter"
    ADD_NONVOTER = "add_nonvoter"
    DEMOTE_VOTER = "demote_voter"
    REMOVE_SERVER = "remove_server"


@dataclass(frozen=True, slots=True)
class ConfigurationChange:
    """One single-server change; `prev_index` != 0 makes it conditional on the latest configuration's index."""

    kind: ChangeKind
    server_id: str
    address: str = ""
    prev_index: int = 0

    def apply(self, current: Configuration) -> Configuration:
        """The configuration after this change (hashicorp nextConfiguration)."""
        servers = list(current.servers)
        position = next((i for i, s in enumerate(servers) if s.id == self.server_id), None)
        if self.kind is ChangeKind.ADD_VOTER or self.kind is ChangeKind.ADD_NONVOTER:
            suffrage = Suffrage.VOTER if self.kind is ChangeKind.ADD_VOTER else Suffrage.NONVOTER
            if position is None:
                servers.append(Server(self.server_id, self.address, suffrage))
            else:
                old = servers[position]
                # Adding a non-voter never demotes an existing voter (hashicorp keeps the voter).
                if self.kind is ChangeKind.ADD_NONVOTER and old.suffrage == Suffrage.VOTER:
                    suffrage = Suffrage.VOTER
                servers[position] = Server(self.server_id, self.address or old.address, suffrage)
        elif self.kind is ChangeKind.DEMOTE_VOTER:
            if position is not None:
                old = servers[position]
                servers[position] = Server(old.id, old.address, Suffrage.NONVOTER)
        elif position is not None:
            del servers[position]
        result = Configuration(tuple(servers))
        if not result.voters:
            raise ConfigurationChangeError("a configuration needs at least one voter")
        return result
