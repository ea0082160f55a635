"""The management token on every protected endpoint (missing, wrong, and each of Consul's three forms), secrets kept
out of logs, HTTPS with and without client-certificate verification, and the connection limit."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import consul
import pytest
import requests

from raftstore.agent.config import AgentConfig
from raftstore.agent.server import AgentThread

TOKEN = "s3cr3t-management-token"

PROTECTED = [
    ("PUT", "/v1/kv/k", b"v"),
    ("DELETE", "/v1/kv/k", None),
    ("DELETE", "/v1/kv/?recurse", None),
    ("PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "get", "Key": "k"}}])),
    ("PUT", "/v1/session/create", None),
    ("PUT", "/v1/session/destroy/" + "1" * 36, None),
    ("PUT", "/v1/session/renew/" + "1" * 36, None),
    ("PUT", "/v1/catalog/register", json.dumps({"Node": "n", "Address": "10.0.0.1"})),
    ("PUT", "/v1/catalog/deregister", json.dumps({"Node": "n"})),
    ("GET", "/v1/snapshot", None),
    ("PUT", "/v1/snapshot", b"not an archive"),
    ("GET", "/v1/operator/raft/configuration", None),
    ("DELETE", "/v1/operator/raft/peer?id=nobody", None),
    ("POST", "/v1/operator/raft/transfer-leader", None),
    ("GET", "/v1/operator/autopilot/configuration", None),
    ("PUT", "/v1/operator/autopilot/configuration", json.dumps({"CleanupDeadServers": True})),
]
OPEN = [
    "/v1/kv/k",
    "/v1/catalog/nodes",
    "/v1/health/service/x",
    "/v1/session/list",
    "/v1/status/leader",
    "/v1/agent/self",
]


def _config(**overrides: Any) -> AgentConfig:
    values: dict[str, Any] = {"dev": True, "node_name": "secure", "http_addr": "127.0.0.1:0", "token": TOKEN}
    values.update(overrides)
    return AgentConfig(**values)


@pytest.fixture
def secured(agent_factory: Callable[..., AgentThread]) -> AgentThread:
    return agent_factory(_config())


def _call(agent: AgentThread, method: str, path: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"http://{agent.http_address}{path}", data=body, timeout=30, **kwargs)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_protected_endpoint_refuses_missing_or_wrong_token(
    secured: AgentThread, method: str, path: str, body: Any
) -> None:
    for headers in ({}, {"X-Consul-Token": "wrong"}, {"Authorization": "Bearer wrong"}, {"X-Consul-Token": TOKEN[:-1]}):
        answer = _call(secured, method, path, body, headers=headers)
        assert answer.status_code == 403 and answer.text == "Permission denied", (headers, answer.text)
    sep = "&" if "?" in path else "?"
    assert _call(secured, method, f"{path}{sep}token=wrong", body).status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_protected_endpoint_accepts_each_token_form(secured: AgentThread, method: str, path: str, body: Any) -> None:
    sep = "&" if "?" in path else "?"
    forms: list[tuple[str, dict[str, str]]] = [
        (path, {"X-Consul-Token": TOKEN}),
        (path, {"Authorization": f"Bearer {TOKEN}"}),
        (f"{path}{sep}token={TOKEN}", {}),
    ]
    for url, headers in forms:
        answer = _call(secured, method, url, body, headers=headers)
        assert answer.status_code != 403, (url, headers, answer.text)


def test_reads_stay_open(secured: AgentThread) -> None:
    for path in OPEN:
        assert _call(secured, "GET", path, None).status_code in (200, 404)


def test_py_consul_with_token(secured: AgentThread, consul_for: Any) -> None:
    anonymous = consul_for(secured)
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.put("k", "v")
    trusted = consul_for(secured, token=TOKEN)
    assert trusted.kv.put("k", "v") is True
    assert anonymous.kv.get("k")[1]["Value"] == b"v"
    assert trusted.snapshot.save()[:2] == b"\x1f\x8b"
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.snapshot.save()


def test_token_never_logged(secured: AgentThread, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("raftstore")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG, logger="raftstore"):
            _call(secured, "PUT", f"/v1/kv/logged?token={TOKEN}", b"v")
            _call(secured, "PUT", "/v1/kv/logged", b"v", headers={"X-Consul-Token": TOKEN})
            _call(secured, "PUT", "/v1/kv/logged?token=guess", b"v")
            deadline = time.monotonic() + 10
            while not any("/v1/kv/logged" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        logger.removeHandler(caplog.handler)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/kv/logged" in text  # the access log did run
    assert TOKEN not in text and "guess" not in text
    assert TOKEN not in repr(secured.agent.config)


# ------------------------------------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pki_module = pytest.importorskip(
        "raftstore.testing.pki", reason="cryptography is needed for throw-away certificates"
    )
    return pki_module.make_pki(Path(tmp_path_factory.mktemp("pki")))


def test_https(agent_factory: Callable[..., AgentThread], pki: Any) -> None:
    agent = agent_factory(_config(token=None, tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key)))
    url = f"https://{agent.http_address}/v1/kv/tls"
    assert requests.put(url, data=b"v", verify=str(pki.ca), timeout=30).json() is True
    assert requests.get(url + "?raw", verify=str(pki.ca), timeout=30).content == b"v"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{agent.http_address}/v1/kv/tls", timeout=30)  # plain HTTP is not served


def test_https_with_client_certificates(agent_factory: Callable[..., AgentThread], pki: Any) -> None:
    agent = agent_factory(
        _config(
            token=None,
            tls_cert_file=str(pki.server_cert),
            tls_key_file=str(pki.server_key),
            tls_ca_file=str(pki.ca),
            tls_verify_incoming=True,
        )
    )
    url = f"https://{agent.http_address}/v1/status/leader"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=str(pki.ca), timeout=30)
    answer = requests.get(url, verify=str(pki.ca), cert=(str(pki.client_cert), str(pki.client_key)), timeout=30)
    assert answer.status_code == 200


# ------------------------------------------------------------------------------------------------ connection limits


def test_connection_limit_per_client(agent_factory: Callable[..., AgentThread]) -> None:
    agent = agent_factory(_config(token=None, http_max_conns_per_client=3))
    host, port = agent.http_address.rsplit(":", 1)
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection((host, int(port)), timeout=10)
        try:
            extra.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(4096) == b""  # closed without an answer
        except ConnectionResetError:
            pass
        finally:
            extra.close()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the freed slots are given back once the server has seen the connections close
        try:
            if requests.get(f"http://{agent.http_address}/v1/status/leader", timeout=5).status_code == 200:
                break
        except requests.exceptions.ConnectionError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_silent_connections_are_closed(agent_factory: Callable[..., AgentThread]) -> None:
    agent = agent_factory(_config(token=None, http_first_byte_timeout=0.2, http_max_conns_per_client=2))
    host, port = agent.http_address.rsplit(":", 1)
    silent = [socket.create_connection((host, int(port)), timeout=20) for _ in range(2)]
    try:
        for sock in silent:
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""  # closed by the agent, not by the recv timeout (which would raise)
    finally:
        for sock in silent:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # their slots are free again
        try:
            if requests.get(f"http://{agent.http_address}/v1/status/leader", timeout=5).status_code == 200:
                break
        except requests.exceptions.ConnectionError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_internal_errors_are_500_without_details(agent_factory: Callable[..., AgentThread]) -> None:
    from raftstore.agent.direct import DirectBackend

    class Broken(DirectBackend):
        async def apply(self, msg_type: Any, body: Any) -> Any:
            raise RuntimeError("secret internals")

    async def make(config: AgentConfig) -> Broken:
        return Broken(node_name=config.node_name)

    agent = agent_factory(_config(token=None), backend_factory=make, ready_timeout=0.5)
    answer = _call(agent, "PUT", "/v1/kv/k", b"v")
    assert answer.status_code == 500 and answer.text == "internal error"
    assert _call(agent, "GET", "/v1/status/leader", None).status_code == 200
