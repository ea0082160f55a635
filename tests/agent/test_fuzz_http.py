"""Fuzzing the HTTP API's input decoding (hypothesis): random JSON bodies and query strings on every endpoint
that reads them. Whatever arrives, the answer is one of Consul's statuses with a text or JSON body, never the
"internal error" of a bug, and the agent keeps serving."""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftstore.agent.server import AgentThread

_EXPECTED = {200, 400, 403, 404, 405, 409, 413, 500}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
# Bodies shaped like the real ones (known field names, any values), so the fuzzing reaches past the first type check.
_FIELDS = [
    "Node", "node", "Address", "Service", "service", "Check", "Checks", "ID", "Name", "Tags", "Port", "Meta",
    "NodeMeta", "TaggedAddresses", "CheckID", "Status", "ServiceID", "TTL", "ttl", "LockDelay", "Behavior",
    "NodeChecks", "ServiceChecks", "KV", "Verb", "Key", "Value", "Flags", "Index", "Session", "Datacenter",
    "SkipNodeUpdate", "Output", "Notes", "Checks", "CleanupDeadServers", "MaxTrailingLogs", "LastContactThreshold",
]  # fmt: skip
shaped = st.recursive(
    json_values,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(_FIELDS), children, max_size=6),
    max_leaves=25,
)

_BODY_ENDPOINTS = [
    "/v1/catalog/register",
    "/v1/catalog/deregister",
    "/v1/session/create",
    "/v1/txn",
    "/v1/agent/service/register",
    "/v1/agent/check/register",
    "/v1/operator/autopilot/configuration",
    "/v1/kv/fuzz",
]
_QUERY_PATHS = [
    "/v1/kv/fuzz",
    "/v1/catalog/nodes",
    "/v1/health/service/web",
    "/v1/session/list",
    "/v1/catalog/services",
]
_PARAMS = ["index", "wait", "stale", "consistent", "recurse", "keys", "separator", "dc", "filter", "flags", "cas",
           "acquire", "release", "passing", "tag", "node-meta", "max_stale", "raw", "pretty", "token"]  # fmt: skip


def _check(answer: requests.Response) -> None:
    assert answer.status_code in _EXPECTED, (answer.status_code, answer.text)
    assert answer.text != "internal error"
    assert "Traceback" not in answer.text


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(endpoint=st.sampled_from(_BODY_ENDPOINTS), body=st.one_of(shaped, json_values))
def test_random_json_bodies(agent: AgentThread, endpoint: str, body: Any) -> None:
    answer = requests.put(f"http://{agent.http_address}{endpoint}", data=json.dumps(body), timeout=30)
    _check(answer)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(endpoint=st.sampled_from(_BODY_ENDPOINTS), body=st.binary(max_size=64))
def test_random_bytes_bodies(agent: AgentThread, endpoint: str, body: bytes) -> None:
    _check(requests.put(f"http://{agent.http_address}{endpoint}", data=body, timeout=30))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    path=st.sampled_from(_QUERY_PATHS),
    method=st.sampled_from(["GET", "PUT", "DELETE"]),
    params=st.lists(st.tuples(st.sampled_from(_PARAMS), st.text(max_size=12)), max_size=4),
)
def test_random_query_strings(agent: AgentThread, path: str, method: str, params: list[tuple[str, str]]) -> None:
    if any(name == "index" for name, _ in params) and method == "GET":
        params = [(n, v) for n, v in params if n != "wait"] + [("wait", "10ms")]  # keep blocking queries short
    answer = requests.request(method, f"http://{agent.http_address}{path}", params=params, data=b"v", timeout=30)
    _check(answer)
    assert requests.get(f"http://{agent.http_address}/v1/status/leader", timeout=30).status_code == 200
