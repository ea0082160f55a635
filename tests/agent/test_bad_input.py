"""Bad input gets Consul's status code and a text error, never a 500 (except where Consul's own answer is 500)
or a crash: malformed JSON, wrong types, oversized bodies, bad query parameters, unknown paths, wrong methods.
After all of it the agent still serves."""

from __future__ import annotations

import json

import pytest

LIMIT = 512 * 1024


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("PUT", "/v1/catalog/register", b"{not json", 400, "decode"),
        ("PUT", "/v1/catalog/register", b"\xff\xfe\x00", 400, "decode"),
        ("PUT", "/v1/catalog/register", json.dumps({"Node": 5, "Address": "a"}), 400, "Node"),
        ("PUT", "/v1/catalog/register", json.dumps([1, 2]), 400, "RegisterRequest"),
        ("PUT", "/v1/catalog/register", json.dumps({"Node": "n"}), 400, "address"),
        (
            "PUT",
            "/v1/catalog/register",
            json.dumps({"Node": "n", "Address": "a", "Service": {"Port": "80"}}),
            400,
            "Port",
        ),
        (
            "PUT",
            "/v1/catalog/register",
            json.dumps({"Node": "n", "Address": "a", "NodeMeta": {"k": 1}}),
            400,
            "NodeMeta",
        ),
        ("PUT", "/v1/catalog/register", b"", 400, "empty"),
        ("PUT", "/v1/catalog/deregister", json.dumps({"Node": ["x"]}), 400, "Node"),
        ("PUT", "/v1/session/create", json.dumps({"Behavior": "explode"}), 400, "Behavior"),
        ("PUT", "/v1/session/create", json.dumps({"LockDelay": "forever"}), 400, "LockDelay"),
        ("PUT", "/v1/session/create", json.dumps({"LockDelay": "2m"}), 400, "LockDelay"),
        ("PUT", "/v1/session/create", json.dumps({"TTL": 10}), 400, "TTL"),
        ("PUT", "/v1/session/create", json.dumps({"NodeChecks": "serfHealth"}), 400, "NodeChecks"),
        ("PUT", "/v1/txn", json.dumps({"KV": {}}), 400, "array"),
        ("PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "set", "Key": "k", "Value": "***"}}]), 400, "base64"),
        ("PUT", "/v1/txn", json.dumps([{}]), 400, "exactly one"),
        ("PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "set", "Key": "k"}}] * 129), 413, "too many operations"),
        ("PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "explode", "Key": "k"}}]), 409, "unknown KV verb"),
        ("PUT", "/v1/txn", b"x" * (LIMIT + 1), 413, "too large"),
        ("PUT", "/v1/kv/big", b"x" * (LIMIT + 1), 413, "too large"),
        ("PUT", "/v1/kv/", b"v", 400, "Missing key name"),
        ("GET", "/v1/kv/", None, 400, "Missing key name"),
        ("DELETE", "/v1/kv/", None, 400, "Missing key name"),
        ("PUT", "/v1/kv/k?flags=-1", b"v", 400, "flags"),
        ("PUT", "/v1/kv/k?flags=18446744073709551616", b"v", 400, "flags"),
        ("PUT", "/v1/kv/k?cas=abc", b"v", 400, "cas"),
        ("PUT", "/v1/kv/k?cas=1&acquire=s", b"v", 400, "Conflicting flags"),
        ("PUT", "/v1/kv/k?acquire=", b"v", 400, "session"),
        ("DELETE", "/v1/kv/k?recurse&cas=1", None, 400, "Conflicting flags"),
        ("GET", "/v1/kv/k?index=abc", None, 400, "Invalid index"),
        ("GET", "/v1/kv/k?index=1&wait=soon", None, 400, "Invalid wait"),
        ("GET", "/v1/kv/k?stale&consistent", None, 400, "conflicting semantics"),
        ("GET", "/v1/kv/k?max_stale=x&stale", None, 400, "max_stale"),
        ("GET", "/v1/kv/k?dc=elsewhere", None, 500, "No path to datacenter"),
        ("GET", "/v1/catalog/nodes?node-meta=nocolon", None, 400, "node-meta"),
        ("GET", "/v1/catalog/nodes?filter=Node%20%3D%3D", None, 400, "boolean expression"),
        ("GET", "/v1/health/service/x?filter=not%20a%20valid%20expression((", None, 400, "boolean expression"),
        ("GET", "/v1/health/state/purple", None, 400, "state"),
        ("GET", "/v1/nope", None, 404, "not found"),
        ("GET", "/not-even-v1", None, 404, "not found"),
        ("POST", "/v1/kv/k", b"v", 405, "not allowed"),
        ("GET", "/v1/txn", None, 405, "not allowed"),
        ("PUT", "/v1/status/leader", None, 405, "not allowed"),
        ("PUT", "/v1/snapshot", b"\x1f\x8b garbage", 400, "snapshot"),
        ("PUT", "/v1/snapshot?stale", b"", 400, "stale"),
        ("DELETE", "/v1/operator/raft/peer", None, 400, "Must specify"),
    ],
)
def test_bad_request(raw, method: str, path: str, body: bytes | str | None, status: int, text: str) -> None:  # type: ignore[no-untyped-def]
    answer = raw(method, path, body)
    assert answer.status == status, answer.text
    assert text.lower() in answer.text.lower()
    expected_type = "application/json" if status == 409 else "text/plain"  # a rolled-back txn answers JSON errors
    assert answer.headers["Content-Type"].startswith(expected_type)
    assert "Traceback" not in answer.text
    assert raw("GET", "/v1/status/leader").status == 200  # still serving


def test_oversized_announced_body_is_refused_before_reading(raw) -> None:  # type: ignore[no-untyped-def]
    answer = raw("PUT", "/v1/kv/k", b"x" * 10, headers={"Content-Length": str(10)})
    assert answer.status == 200
    too_big = raw("PUT", "/v1/kv/big", b"x" * (LIMIT + 10))
    assert too_big.status == 413 and f"{LIMIT + 10} bytes" in too_big.text


def test_value_at_the_limit_is_accepted(raw) -> None:  # type: ignore[no-untyped-def]
    assert raw("PUT", "/v1/kv/edge", b"y" * LIMIT).json() is True
    assert len(raw("GET", "/v1/kv/edge?raw").body) == LIMIT


def test_huge_header_is_refused(raw) -> None:  # type: ignore[no-untyped-def]
    answer = raw("GET", "/v1/kv/k", headers={"X-Big": "z" * 70_000})
    assert 400 <= answer.status < 500
    assert raw("GET", "/v1/status/leader").status == 200


def test_case_insensitive_json_fields(raw) -> None:  # type: ignore[no-untyped-def]
    body = {"NODE": "mixed", "address": "10.2.2.2", "sErViCe": {"SERVICE": "svc", "port": 7}}
    assert raw("PUT", "/v1/catalog/register", json.dumps(body)).status == 200
    assert raw("GET", "/v1/catalog/service/svc").json()[0]["ServicePort"] == 7
    assert raw("PUT", "/v1/catalog/register", json.dumps({**body, "unknownfield": [1]})).status == 200


def test_pretty_output(raw) -> None:  # type: ignore[no-untyped-def]
    raw("PUT", "/v1/kv/p", b"v")
    assert b"\n    " in raw("GET", "/v1/kv/p?pretty").body
