"""Fixtures of the agent tests: in-process dev agents on 127.0.0.1:0 (each on its own loop thread), py-consul
clients pointed at them, and a raw HTTP helper for what py-consul does not expose (headers, status codes, bodies).

Every agent a test starts is stopped at teardown, even when the test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import consul
import pytest
import requests

from raftstore.agent.backend import ApplyResult, NotLeaderError, RaftServerInfo
from raftstore.agent.config import AgentConfig
from raftstore.agent.direct import DirectBackend
from raftstore.agent.factory import make_backend
from raftstore.agent.server import AgentThread, BackendFactory
from raftstore.fsm import MessageType
from raftstore.state import StateStore

TOKEN = "s3cr3t-management-token"


def dev_config(**overrides: Any) -> AgentConfig:
    values: dict[str, Any] = {
        "dev": True,
        "node_name": "node-1",
        "http_addr": "127.0.0.1:0",
        "session_ttl_min": 0.1,  # TTL sessions expire within a test's patience
    }
    values.update(overrides)
    return AgentConfig(**values)


@pytest.fixture
def backend_factory() -> BackendFactory:
    """What runs under the agents of these tests: the agent's own `make_backend` (so a Raft backend wired there is
    tested by this whole suite); override this fixture to run the suite on another backend."""
    return make_backend


@pytest.fixture
def agent_factory(backend_factory: BackendFactory) -> Iterator[Callable[..., AgentThread]]:
    started: list[AgentThread] = []

    def start(config: AgentConfig | None = None, **kwargs: Any) -> AgentThread:
        kwargs.setdefault("backend_factory", backend_factory)
        thread = AgentThread(config or dev_config(), **kwargs)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in reversed(started):
        thread.stop()


@pytest.fixture
def agent(agent_factory: Callable[..., AgentThread]) -> AgentThread:
    return agent_factory()


def consul_client(agent: AgentThread, **kwargs: Any) -> consul.Consul:
    host, port = agent.http_address.rsplit(":", 1)
    return consul.Consul(host=host, port=int(port), **kwargs)


@pytest.fixture
def client(agent: AgentThread) -> Iterator[consul.Consul]:
    c = consul_client(agent)
    yield c
    c.http.session.close()


@pytest.fixture
def consul_for() -> Iterator[Callable[..., consul.Consul]]:
    """py-consul clients for any agent (``consul_for(agent, consistency="stale")``), closed at teardown."""
    made: list[consul.Consul] = []

    def make(agent: AgentThread, **kwargs: Any) -> consul.Consul:
        c = consul_client(agent, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.http.session.close()


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class Raw:
    """Plain HTTP requests to an agent, returning status, headers and body as they are."""

    def __init__(self, base: str, verify: Any = True, cert: Any = None) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.verify = verify
        self.session.cert = cert

    def __call__(self, method: str, path: str, body: bytes | str | None = None, **kwargs: Any) -> Answer:
        kwargs.setdefault("timeout", 30)
        response = self.session.request(method, self.base + path, data=body, **kwargs)
        return Answer(response.status_code, response.headers, response.content)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def raw(agent: AgentThread) -> Iterator[Raw]:
    r = Raw(f"http://{agent.http_address}")
    yield r
    r.close()


class FollowerBackend:
    """A follower as the HTTP layer sees one: a local state store that is never written (so a stale read shows
    what a lagging follower would), and NotLeaderError pointing at `leader_http` for anything the leader must do."""

    def __init__(self, node_name: str, leader_http: Callable[[], str | None]) -> None:
        self.node_name = node_name
        self.datacenter = "dc1"
        self._local = DirectBackend(node_name=node_name)
        self._leader_http = leader_http
        self.calls: list[str] = []

    def _refuse(self, what: str) -> NotLeaderError:
        self.calls.append(what)
        return NotLeaderError("not the leader", self._leader_http())

    @property
    def state(self) -> StateStore:
        return self._local.state

    async def apply(self, msg_type: MessageType, body: Mapping[str, Any]) -> ApplyResult:
        raise self._refuse("apply")

    async def verify_leader(self) -> None:
        raise self._refuse("verify_leader")

    def is_leader(self) -> bool:
        return False

    def known_leader(self) -> bool:
        return self._leader_http() is not None

    def leader_address(self) -> str:
        return "127.0.0.1:8300" if self._leader_http() else ""

    def last_contact_ms(self) -> int:
        return 25

    def raft_configuration(self) -> tuple[int, list[RaftServerInfo]]:
        return 0, []

    async def remove_peer(self, *, server_id: str | None = None, address: str | None = None) -> None:
        raise self._refuse("remove_peer")

    async def snapshot_save(self, out: BinaryIO) -> int:
        raise self._refuse("snapshot_save")

    async def snapshot_restore(self, archive: BinaryIO) -> None:
        raise self._refuse("snapshot_restore")

    def stats(self) -> dict[str, dict[str, str]]:
        return {"raft": {"state": "Follower"}}

    async def close(self) -> None:
        await self._local.close()


@pytest.fixture
def follower_backend() -> type[FollowerBackend]:
    """`FollowerBackend`, for tests that run an agent as a follower of another one."""
    return FollowerBackend
