"""Request bodies: read with a size limit, then JSON decoded with Go's rules.

Go's `encoding/json`, which Consul uses, matches object keys to struct fields *case-insensitively* (py-consul
sends ``node``, ``serviceid``, ``lockdelay``), ignores unknown keys, takes ``null`` for a zero value, and refuses
a value of the wrong type. `decode` does the same against a small declarative schema of the fields each request
type has, and returns plain dicts keyed by Consul's canonical field names. Maps of user data (``Meta``,
``NodeMeta``, ``TaggedAddresses``) keep their keys exactly.

Bodies are read from the stream up to the endpoint's limit: a client announcing or sending more gets 413 before
the rest is read (Consul's "Request body(N bytes) too large"). What was read is kept on the request so a forward
to the leader can resend it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, Union

from aiohttp import web

from raftstore.agent.api.keys import request_key
from raftstore.agent.errors import AgentError, InvalidRequest

BODY_KEY = request_key("raftstore_body")

_CHUNK = 64 * 1024


async def read_body(request: web.Request, limit: int, too_large: Callable[[int], AgentError]) -> bytes:
    """The whole body, at most `limit` bytes; `too_large(size)` is raised beyond (size as announced or read)."""
    cached = request.get(BODY_KEY)
    if isinstance(cached, bytes):
        return cached
    if request.content_length is not None and request.content_length > limit:
        raise too_large(request.content_length)
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise too_large(size)
        parts.append(chunk)
    data = b"".join(parts)
    request[BODY_KEY] = data
    return data


# ------------------------------------------------------------------------------------------------ schema


class Struct:
    """A Go struct: canonical field name -> field type. Keys match case-insensitively; unknown keys are dropped."""

    def __init__(self, name: str, fields: dict[str, Spec]) -> None:
        self.name = name
        self.fields = fields
        self.by_lower = {key.lower(): key for key in fields}


class ListOf:
    def __init__(self, item: Spec) -> None:
        self.item = item


Spec = Union[str, Struct, ListOf]  # noqa: UP007 (a runtime alias: `|` of classes and str fails on 3.10)
"""A field type: "str", "uint", "int", "bool", "strlist", "strmap", "base64", "any", a Struct or a ListOf."""


def _fail(path: str, expected: str, value: Any) -> InvalidRequest:
    got = "null" if value is None else type(value).__name__.replace("dict", "object").replace("list", "array")
    return InvalidRequest(f"Request decode failed: {path}: expected {expected}, got {got}")


def convert(value: Any, spec: Spec, path: str) -> Any:
    if value is None:
        return None
    if isinstance(spec, Struct):
        if not isinstance(value, dict):
            raise _fail(path, f"{spec.name} object", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            canonical = key if key in spec.fields else spec.by_lower.get(key.lower())
            if canonical is None:
                continue  # Go ignores unknown fields
            out[canonical] = convert(item, spec.fields[canonical], f"{path}.{canonical}")
        return out
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise _fail(path, "array", value)
        return [convert(item, spec.item, f"{path}[{n}]") for n, item in enumerate(value)]
    if spec == "any":
        return value
    if spec == "str":
        if not isinstance(value, str):
            raise _fail(path, "string", value)
        return value
    if spec in ("uint", "int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "integer", value)
        if spec == "uint" and not 0 <= value < 1 << 64:
            raise InvalidRequest(f"Request decode failed: {path}: {value} is not an unsigned 64-bit integer")
        if spec == "int" and not -(1 << 63) <= value < 1 << 63:
            raise InvalidRequest(f"Request decode failed: {path}: {value} overflows a 64-bit integer")
        return value
    if spec == "bool":
        if not isinstance(value, bool):
            raise _fail(path, "boolean", value)
        return value
    if spec == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(path, "array of strings", value)
        return list(value)
    if spec == "strmap":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _fail(path, "object of strings", value)
        return dict(value)
    if spec == "base64":
        if not isinstance(value, str):
            raise _fail(path, "base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"Request decode failed: {path}: illegal base64 data") from None
    raise AssertionError(f"unknown spec {spec!r}")


def parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidRequest(f"Request decode failed: {error}") from None


def decode(data: bytes, spec: Spec, what: str) -> Any:
    """A JSON body as `spec` (400 on malformed JSON or a wrong type); an empty body is None."""
    if not data.strip():
        return None
    return convert(parse_json(data), spec, what)


# ------------------------------------------------------------------------------------------------ Consul's types

WEIGHTS = Struct("Weights", {"Passing": "int", "Warning": "int"})
NODE_SERVICE = Struct(
    "Service",
    {
        "Kind": "str",
        "ID": "str",
        "Service": "str",
        "Tags": "strlist",
        "Address": "str",
        "TaggedAddresses": "any",
        "Meta": "strmap",
        "Port": "uint",
        "Weights": WEIGHTS,
        "EnableTagOverride": "bool",
        "Namespace": "str",
        "Partition": "str",
        "CreateIndex": "uint",
        "ModifyIndex": "uint",
    },
)
HEALTH_CHECK = Struct(
    "Check",
    {
        "Node": "str",
        "CheckID": "str",
        "Name": "str",
        "Status": "str",
        "Notes": "str",
        "Output": "str",
        "ServiceID": "str",
        "ServiceName": "str",
        "ServiceTags": "strlist",
        "Type": "str",
        "Definition": "any",
        "Namespace": "str",
        "CreateIndex": "uint",
        "ModifyIndex": "uint",
    },
)
WRITE_REQUEST = Struct("WriteRequest", {"Token": "str"})
REGISTER_REQUEST = Struct(
    "RegisterRequest",
    {
        "Datacenter": "str",
        "ID": "str",
        "Node": "str",
        "Address": "str",
        "TaggedAddresses": "strmap",
        "NodeMeta": "strmap",
        "Service": NODE_SERVICE,
        "Check": HEALTH_CHECK,
        "Checks": ListOf(HEALTH_CHECK),
        "SkipNodeUpdate": "bool",
        "WriteRequest": WRITE_REQUEST,
    },
)
DEREGISTER_REQUEST = Struct(
    "DeregisterRequest",
    {"Datacenter": "str", "Node": "str", "ServiceID": "str", "CheckID": "str", "WriteRequest": WRITE_REQUEST},
)
SESSION_REQUEST = Struct(
    "Session",
    {
        "ID": "str",
        "Name": "str",
        "Node": "str",
        "LockDelay": "any",  # a Go duration string or a number (FixupLockDelay)
        "Behavior": "str",
        "TTL": "str",
        "Checks": "strlist",
        "NodeChecks": "strlist",
        "ServiceChecks": ListOf(Struct("ServiceCheck", {"ID": "str", "Namespace": "str"})),
    },
)
NODE = Struct(
    "Node",
    {
        "ID": "str",
        "Node": "str",
        "Address": "str",
        "Datacenter": "str",
        "TaggedAddresses": "strmap",
        "Meta": "strmap",
        "CreateIndex": "uint",
        "ModifyIndex": "uint",
    },
)
TXN_OPS = ListOf(
    Struct(
        "TxnOp",
        {
            "KV": Struct(
                "KV",
                {
                    "Verb": "str",
                    "Key": "str",
                    "Value": "base64",
                    "Flags": "uint",
                    "Index": "uint",
                    "Session": "str",
                    "Namespace": "str",
                    "Partition": "str",
                },
            ),
            "Node": Struct("NodeOp", {"Verb": "str", "Node": NODE}),
            "Service": Struct("ServiceOp", {"Verb": "str", "Node": "str", "Service": NODE_SERVICE}),
            "Check": Struct("CheckOp", {"Verb": "str", "Check": HEALTH_CHECK}),
            "Session": Struct("SessionOp", {"Verb": "str", "Session": SESSION_REQUEST}),
            "Intention": "any",
        },
    )
)
