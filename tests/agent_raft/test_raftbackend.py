"""`RaftBackend` under the backend contract: a dev (single in-memory server) backend and a 3-server cluster formed
by bootstrap_expect over the Raft transport, with writes through any server's error path, consistent reads,
snapshot save and restore."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from raftstore.agent.backend import NotLeaderError
from raftstore.agent.raftbackend import RaftBackend, start_raft_backend
from raftstore.fsm import MessageType
from raftstore.testing.raftproc.cluster import free_port

DEADLINE = 60.0


def agent_config(**fields: Any) -> SimpleNamespace:
    base = {
        "dev": False,
        "node_name": "dev",
        "datacenter": "dc1",
        "data_dir": None,
        "http_addr": "127.0.0.1:8500",
        "advertise_http": None,
        "raft_addr": "127.0.0.1:0",
        "bootstrap_expect": 0,
        "retry_join": [],
    }
    base.update(fields)
    return SimpleNamespace(**base)


def kv_set(key: str, value: bytes) -> dict[str, Any]:
    return {"Op": "set", "DirEnt": {"Key": key, "Value": value, "Flags": 0}}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_dev_backend_applies_reads_and_round_trips_a_snapshot(loop: asyncio.AbstractEventLoop) -> None:
    async def run() -> None:
        backend = await start_raft_backend(agent_config(dev=True))
        try:
            assert backend.is_leader() and backend.known_leader()
            result = await backend.apply(MessageType.KVS, kv_set("a", b"1"))
            assert result.index > 0
            await backend.verify_leader()
            index, entry = backend.state.kvs_get("a")
            assert entry is not None and entry.Value == b"1" and index == result.index
            archive = io.BytesIO()
            saved_at = await backend.snapshot_save(archive)
            assert saved_at >= result.index
            await backend.apply(MessageType.KVS, kv_set("a", b"2"))
            await backend.apply(MessageType.KVS, kv_set("b", b"x"))
            archive.seek(0)
            await backend.snapshot_restore(archive)
            _, entry = backend.state.kvs_get("a")
            assert entry is not None and entry.Value == b"1"
            assert backend.state.kvs_get("b")[1] is None
            after = await backend.apply(MessageType.KVS, kv_set("c", b"3"))
            assert after.index > saved_at
            assert backend.raft_configuration()[1][0].leader
        finally:
            await backend.close()

    loop.run_until_complete(asyncio.wait_for(run(), DEADLINE))


def test_three_servers_bootstrap_expect_and_forwarding_errors(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    async def run() -> None:
        ports = [free_port() for _ in range(3)]
        addresses = [f"127.0.0.1:{p}" for p in ports]
        backends: list[RaftBackend] = []
        try:
            for n, address in enumerate(addresses):
                config = agent_config(
                    node_name=f"server-{n}",
                    data_dir=str(tmp_path / f"s{n}"),
                    raft_addr=address,
                    http_addr=f"127.0.0.1:{8500 + n}",
                    bootstrap_expect=3,
                    retry_join=addresses,
                )
                backends.append(await start_raft_backend(config))
            for _ in range(int(DEADLINE / 0.02)):
                leaders = [b for b in backends if b.is_leader()]
                if len(leaders) == 1 and all(b.known_leader() for b in backends):
                    break
                await asyncio.sleep(0.02)
            leader = next(b for b in backends if b.is_leader())
            assert len(leader.raft_configuration()[1]) == 3
            result = await leader.apply(MessageType.KVS, kv_set("k", b"v"))
            follower = next(b for b in backends if b is not leader)
            with pytest.raises(NotLeaderError) as raised:
                await follower.apply(MessageType.KVS, kv_set("k", b"w"))
            for _ in range(int(DEADLINE / 0.02)):  # the leader's HTTP address arrives with its announcement
                if raised.value.leader_http:
                    break
                await asyncio.sleep(0.02)
                try:
                    await follower.verify_leader()
                except NotLeaderError as error:
                    raised.value.leader_http = error.leader_http
            assert raised.value.leader_http == f"127.0.0.1:{8500 + backends.index(leader)}"
            for _ in range(int(DEADLINE / 0.02)):
                if all(b.state.kvs_get("k")[1] is not None for b in backends):
                    break
                await asyncio.sleep(0.02)
            assert all(b.state.kvs_get("k")[0] >= result.index for b in backends)
            # A fourth server joins the running cluster through retry-join.
            extra = await start_raft_backend(
                agent_config(
                    node_name="server-3",
                    data_dir=str(tmp_path / "s3"),
                    raft_addr=f"127.0.0.1:{free_port()}",
                    retry_join=addresses[:1],
                )
            )
            backends.append(extra)
            for _ in range(int(DEADLINE / 0.02)):
                if len(leader.raft_configuration()[1]) == 4 and extra.state.kvs_get("k")[1] is not None:
                    break
                await asyncio.sleep(0.02)
            assert len(leader.raft_configuration()[1]) == 4 and extra.state.kvs_get("k")[1] is not None
            # It joined as a non-voter; autopilot promotes it once stable (stabilization shortened here).
            await leader.apply(
                MessageType.AUTOPILOT,
                {
                    "Datacenter": "dc1",
                    "CAS": False,
                    "Config": {
                        "CleanupDeadServers": True,
                        "LastContactThreshold": 5 * 10**9,
                        "MaxTrailingLogs": 250,
                        "MinQuorum": 0,
                        "ServerStabilizationTime": 10**8,
                    },
                },
            )
            for _ in range(int(DEADLINE / 0.05)):
                if sum(s.voter for s in leader.raft_configuration()[1]) == 4:
                    break
                await asyncio.sleep(0.05)
            assert sum(s.voter for s in leader.raft_configuration()[1]) == 4
            for _ in range(int(DEADLINE / 0.05)):  # the next update round sees the promotion
                state = leader.autopilot_state()
                if state is not None and len(state.voters) == 4:
                    break
                await asyncio.sleep(0.05)
            assert state is not None and state.healthy and len(state.voters) == 4
            # A server that dies is removed by autopilot while quorum holds (failure detection shortened here).
            dead = next(b for b in backends if b is not leader)
            backends.remove(dead)
            await dead.close()
            for _ in range(int(DEADLINE / 0.05)):
                if dead.node.id not in [s.id for s in leader.raft_configuration()[1]]:
                    break
                await asyncio.sleep(0.05)
            assert [s.id for s in leader.raft_configuration()[1]].count(dead.node.id) == 0
            assert len(leader.raft_configuration()[1]) == 3
        finally:
            for backend in backends:
                await backend.close()

    loop.run_until_complete(asyncio.wait_for(run(), DEADLINE * 2))


def test_raft_over_mutual_tls(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    """With the agent's TLS settings, Raft links use TLS too, and with tls_verify_incoming a server without a
    certificate from the cluster CA is refused: the cluster forms only among the certified servers."""
    from raftstore.testing.pki import make_pki

    pki = make_pki(tmp_path)
    tls = {
        "tls": True,
        "tls_cert_file": str(pki.server_cert),
        "tls_key_file": str(pki.server_key),
        "tls_ca_file": str(pki.ca),
        "tls_verify_incoming": True,
    }

    async def run() -> None:
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        backends: list[RaftBackend] = []
        try:
            for n, address in enumerate(addresses):
                backends.append(
                    await start_raft_backend(
                        agent_config(
                            node_name=f"tls-{n}",
                            data_dir=str(tmp_path / f"t{n}"),
                            raft_addr=address,
                            bootstrap_expect=3,
                            retry_join=addresses,
                            **tls,
                        )
                    )
                )
            for _ in range(int(DEADLINE / 0.02)):
                if sum(b.is_leader() for b in backends) == 1 and all(b.known_leader() for b in backends):
                    break
                await asyncio.sleep(0.02)
            leader = next(b for b in backends if b.is_leader())
            await leader.apply(MessageType.KVS, kv_set("secure", b"yes"))
            for _ in range(int(DEADLINE / 0.02)):
                if all(b.state.kvs_get("secure")[1] is not None for b in backends):
                    break
                await asyncio.sleep(0.02)
            assert all(b.state.kvs_get("secure")[1] is not None for b in backends)
            # A server without TLS cannot join: its plain-text hello never reaches the cluster.
            intruder = await start_raft_backend(
                agent_config(
                    node_name="intruder",
                    data_dir=str(tmp_path / "x"),
                    raft_addr=f"127.0.0.1:{free_port()}",
                    retry_join=addresses[:1],
                )
            )
            backends.append(intruder)
            await asyncio.sleep(2.0)  # time for several join attempts (each would be answered within ~0.5 s)
            assert len(leader.raft_configuration()[1]) == 3 and not intruder.known_leader()
        finally:
            for backend in backends:
                await backend.close()

    loop.run_until_complete(asyncio.wait_for(run(), DEADLINE * 2))
