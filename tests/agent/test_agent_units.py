"""Units of the agent that touch no C code: JSON decoding with Go's rules, query parameters, the token check,
session request validation, config files, logfmt, and the leader's timers on a fake clock."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from raftstore.agent import commands
from raftstore.agent.api import params
from raftstore.agent.api.auth import check_token, is_protected, request_token
from raftstore.agent.api.body import REGISTER_REQUEST, SESSION_REQUEST, TXN_OPS, decode
from raftstore.agent.config import ConfigError, build_config, load_file
from raftstore.agent.errors import InvalidRequest, PermissionDenied
from raftstore.agent.leader import SessionTimers, TombstoneGC
from raftstore.agent.logs import LogfmtFormatter, kv

pytestmark = pytest.mark.pure_python


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------------------ JSON bodies


def test_decode_matches_fields_case_insensitively_and_keeps_user_keys() -> None:
    body = {"node": "n", "ADDRESS": "a", "nodemeta": {"Rack": "R1"}, "service": {"service": "web", "TAGS": ["x"]}}
    out = decode(json.dumps(body).encode(), REGISTER_REQUEST, "RegisterRequest")
    assert out == {
        "Node": "n",
        "Address": "a",
        "NodeMeta": {"Rack": "R1"},
        "Service": {"Service": "web", "Tags": ["x"]},
    }


def test_decode_exact_name_wins_and_unknown_fields_are_dropped() -> None:
    out = decode(b'{"Name": "exact", "whatever": 1}', SESSION_REQUEST, "Session")
    assert out == {"Name": "exact"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"Node": 1}', "RegisterRequest.Node: expected string"),
        (b'{"Service": {"Port": true}}', "RegisterRequest.Service.Port: expected integer"),
        (b'{"Checks": {}}', "RegisterRequest.Checks: expected array"),
        (b'{"NodeMeta": {"k": null}}', "NodeMeta: expected object of strings"),
        (b'{"Service": {"Tags": [1]}}', "Tags: expected array of strings"),
        (b"[", "Request decode failed"),
        (b'"just a string"', "expected RegisterRequest object"),
    ],
)
def test_decode_refuses_wrong_types(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match="Request decode failed") as caught:
        decode(body, REGISTER_REQUEST, "RegisterRequest")
    assert fragment in str(caught.value)


def test_decode_null_is_a_zero_value_and_empty_body_is_none() -> None:
    assert decode(b'{"Node": null}', REGISTER_REQUEST, "RegisterRequest") == {"Node": None}
    assert decode(b"  ", REGISTER_REQUEST, "RegisterRequest") is None


def test_txn_values_are_base64() -> None:
    ops = decode(b'[{"kv": {"verb": "set", "key": "k", "value": "aGk="}}]', TXN_OPS, "TxnOps")
    assert ops == [{"KV": {"Verb": "set", "Key": "k", "Value": b"hi"}}]
    with pytest.raises(InvalidRequest, match="base64"):
        decode(b'[{"KV": {"Value": "!!"}}]', TXN_OPS, "TxnOps")


def test_uint_range() -> None:
    with pytest.raises(InvalidRequest):
        decode(b'[{"KV": {"Flags": -1}}]', TXN_OPS, "TxnOps")
    with pytest.raises(InvalidRequest):
        decode(json.dumps([{"KV": {"Flags": 1 << 64}}]).encode(), TXN_OPS, "TxnOps")


# ------------------------------------------------------------------------------------------------ query parameters


def test_params() -> None:
    query = {"recurse": "", "index": "42", "wait": "1m30s", "bad": "-1", "big": str(1 << 64)}
    assert params.flag(query, "recurse") and not params.flag(query, "keys")
    assert params.uint(query, "index") == 42 and params.uint(query, "missing") is None
    assert params.duration(query, "wait", "wait time") == 90.0
    for name in ("bad", "big"):
        with pytest.raises(InvalidRequest):
            params.uint(query, name)
    with pytest.raises(InvalidRequest, match="Invalid wait time"):
        params.duration({"wait": "10"}, "wait", "wait time")
    with pytest.raises(InvalidRequest, match="Invalid wait time"):
        params.duration({"wait": "-5s"}, "wait", "wait time")


# ------------------------------------------------------------------------------------------------ token


def _request(method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    return make_mocked_request(method, path, headers=CIMultiDict(headers or {}))


def test_token_forms() -> None:
    assert request_token(_request("GET", "/v1/kv/k", {"X-Consul-Token": "a"})) == "a"
    assert request_token(_request("GET", "/v1/kv/k", {"Authorization": "Bearer b"})) == "b"
    assert request_token(_request("GET", "/v1/kv/k", {"Authorization": "Basic zzz"})) is None
    assert request_token(_request("GET", "/v1/kv/k?token=c")) == "c"
    assert request_token(_request("GET", "/v1/kv/k")) is None


def test_protected_requests() -> None:
    assert is_protected(_request("PUT", "/v1/kv/k"))
    assert is_protected(_request("DELETE", "/v1/kv/k"))
    assert is_protected(_request("GET", "/v1/snapshot"))
    assert is_protected(_request("GET", "/v1/operator/raft/configuration"))
    assert not is_protected(_request("GET", "/v1/kv/k"))
    assert not is_protected(_request("GET", "/v1/status/leader"))


def test_check_token() -> None:
    check_token(_request("PUT", "/v1/kv/k"), None)  # no token configured: open
    check_token(_request("GET", "/v1/kv/k"), "secret")  # unprotected read
    check_token(_request("PUT", "/v1/kv/k", {"X-Consul-Token": "secret"}), "secret")
    for headers in ({}, {"X-Consul-Token": "secreT"}, {"X-Consul-Token": "secret "}, {"X-Consul-Token": "ünï"}):
        with pytest.raises(PermissionDenied, match=r"^Permission denied$"):
            check_token(_request("PUT", "/v1/kv/k", headers), "secret")


# ------------------------------------------------------------------------------------------------ sessions


def test_session_request_defaults_and_lock_delay_forms() -> None:
    session = commands.session_request({}, "me")
    assert (session["Node"], session["NodeChecks"], session["LockDelay"], session["Behavior"]) == (
        "me",
        ["serfHealth"],
        15 * 10**9,
        "release",
    )
    assert commands.lock_delay_ns("250ms") == 250 * 10**6
    assert commands.lock_delay_ns(20) == 20 * 10**9  # a small number is seconds
    assert commands.lock_delay_ns(5_000_000_000) == 5 * 10**9  # a large one nanoseconds
    assert commands.session_request({"Checks": []}, "me")["NodeChecks"] == []
    assert commands.session_request({"NodeChecks": ["a"], "Checks": ["b"]}, "me")["NodeChecks"] == ["a"]


@pytest.mark.parametrize(
    "spec",
    [{"Behavior": "x"}, {"TTL": "5s"}, {"TTL": "25h"}, {"TTL": "soon"}, {"LockDelay": "61s"}, {"LockDelay": True}],
)
def test_session_request_refusals(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        commands.session_request(spec, "me")


# ------------------------------------------------------------------------------------------------ config


def test_config_file_consul_names_and_flag_precedence(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text(
        json.dumps(
            {
                "node_name": "from-file",
                "datacenter": "east",
                "addresses": {"http": "0.0.0.0"},
                "ports": {"http": 9500, "server": 9300},
                "bind_addr": "10.0.0.1",
                "retry_join": ["10.0.0.2:9300"],
                "bootstrap_expect": 3,
                "acl": {"tokens": {"initial_management": "tok"}},
                "limits": {"http_max_conns_per_client": 50},
                "session_ttl_min": "1s",
                "server": True,
            }
        )
    )
    config = build_config([load_file(path)], {"node_name": "from-flag", "datacenter": None})
    assert (config.node_name, config.datacenter, config.http_addr, config.raft_addr) == (
        "from-flag",
        "east",
        "0.0.0.0:9500",
        "10.0.0.1:9300",
    )
    assert (config.token, config.bootstrap_expect, config.http_max_conns_per_client) == ("tok", 3, 50)
    assert config.session_ttl_min == 1.0 and config.retry_join == ["10.0.0.2:9300"]
    assert "tok" not in repr(config)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        ('{"nope": 1}', "unknown key"),
        ('{"bootstrap_expect": "3"}', "bootstrap_expect must be int"),
        ('{"session_ttl_min": "ten"}', "session_ttl_min"),
    ],
)
def test_config_file_errors(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=fragment):
        load_file(path)


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        load_file("/nonexistent/raftstore.json")
    for bad in (
        {"http_addr": "no-port"},
        {"http_addr": "h:99999"},
        {"dev": True, "bootstrap_expect": 3},
        {"tls_cert_file": "c"},
        {"tls_verify_incoming": True},
        {"token": ""},
        {"kv_max_value_size": 0},
    ):
        with pytest.raises(ConfigError):
            build_config([], bad)
    build_config([], {"http_addr": "[::1]:0"})


# ------------------------------------------------------------------------------------------------ logs


def test_logfmt() -> None:
    record = logging.LogRecord(
        "raftstore.agent",
        logging.INFO,
        __file__,
        1,
        kv("agent started", addr="127.0.0.1:1", note="two words"),
        None,
        None,
    )
    line = LogfmtFormatter().format(record)
    assert 'level=info logger=raftstore.agent msg="agent started" addr=127.0.0.1:1 note="two words"' in line
    assert str(kv("plain")) == "plain"
    plain = logging.LogRecord("x", logging.WARNING, __file__, 1, "value %d", (3,), None)
    assert 'msg="value 3"' in LogfmtFormatter().format(plain)


# ------------------------------------------------------------------------------------------------ leader timers


class _FakeStore:
    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        self.index = 0
        self.tombstone_index = 0

    def max_index(self, table: str) -> int:
        return self.tombstone_index if table == "tombstones" else self.index

    def session_list(self) -> tuple[int, list[dict[str, Any]]]:
        return self.index, self.sessions


class _FakeBackend:
    def __init__(self) -> None:
        self.state = _FakeStore()


def test_session_timers() -> None:
    clock = Clock()
    timers = SessionTimers(clock)
    backend = _FakeBackend()
    backend.state.sessions = [{"ID": "a", "TTL": "10s"}, {"ID": "b", "TTL": ""}, {"ID": "c", "TTL": "bogus"}]
    backend.state.index = 1
    timers.sync(backend)  # type: ignore[arg-type]
    assert "a" in timers and "b" not in timers and "c" not in timers
    clock.now += 19.9
    assert timers.expired() == []
    timers.renew("a", "10s")
    clock.now += 19.9
    assert timers.expired() == []
    clock.now += 0.2
    assert timers.expired() == ["a"]
    backend.state.sessions, backend.state.index = [], 2
    timers.sync(backend)  # type: ignore[arg-type]
    assert "a" not in timers


def test_tombstone_gc() -> None:
    clock = Clock()
    gc = TombstoneGC(ttl=60, granularity=10, clock=clock)
    backend = _FakeBackend()
    backend.state.tombstone_index = 5
    assert gc.due(backend) is None  # type: ignore[arg-type]
    clock.now += 10
    backend.state.tombstone_index = 9
    assert gc.due(backend) is None  # type: ignore[arg-type]
    clock.now += 50
    assert gc.due(backend) == 5  # type: ignore[arg-type]
    clock.now += 10
    assert gc.due(backend) == 9  # type: ignore[arg-type]
    clock.now += 100
    assert gc.due(backend) is None  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ filter expressions


_ENTRY = {
    "Node": "web-1",
    "ServiceTags": ["prod", "v2"],
    "Meta": {"env": "prod", "rack": ""},
    "Port": 80,
    "Passing": True,
    "Service": {"Service": "web", "Tags": None},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Node == "web-1"', True),
        ("Node == web-1", True),
        ("Node != web-1", False),
        ('"prod" in ServiceTags', True),
        ("staging in ServiceTags", False),
        ("staging not in ServiceTags", True),
        ("ServiceTags contains v2", True),
        ("ServiceTags not contains v2", False),
        ("Meta.env == prod", True),
        ('Meta["env"] == prod', True),
        ("env in Meta", True),
        ("Meta.rack is empty", True),
        ("Meta.missing is empty", True),
        ("Meta is not empty", True),
        ("Service.Tags is empty", True),
        ("service.service == web", True),  # field names fall back to a case-insensitive match
        ("Port == 80", True),
        ("Passing == true", True),
        ('Node matches "^web-[0-9]+$"', True),
        ("Node not matches `^db`", True),
        ("Node == x or (Port == 80 and not Passing == false)", True),
        ("not Node == web-1", False),
        ("Node == web-1 and Port == 81", False),
    ],
)
def test_filter_expressions(expression: str, expected: bool) -> None:
    from raftstore.agent.api.filter import compile_filter

    assert compile_filter(expression)(_ENTRY) is expected


@pytest.mark.parametrize(
    "expression", ["", "Node ==", "Node = x", "(Node == x", "Node == x)", "Node is full", 'Node matches "["']
)
def test_malformed_filters(expression: str) -> None:
    from raftstore.agent.api.filter import compile_filter

    with pytest.raises(InvalidRequest, match="Failed to create boolean expression evaluator"):
        compile_filter(expression)


def test_agent_flags_parse_in_both_styles() -> None:
    import argparse

    from raftstore.agent.cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    joins = ["-retry-join", "10.0.0.1:8300", "10.0.0.2:8300", "--retry-join", "10.0.0.3:8300"]
    server = ["-data-dir", "/var/lib/raftstore", "--bootstrap-expect", "3", "-raft-addr", "10.0.0.1:8300"]
    args = parser.parse_args(["agent", *joins, "--node", "n1", *server, "-token", "t"])
    assert args.retry_join == ["10.0.0.1:8300", "10.0.0.2:8300", "10.0.0.3:8300"]
    assert (args.node_name, args.data_dir, args.bootstrap_expect, args.raft_addr, args.token) == (
        "n1",
        "/var/lib/raftstore",
        3,
        "10.0.0.1:8300",
        "t",
    )
    assert args.dev is None and args.http_addr is None  # not given: the config file or the default decides
