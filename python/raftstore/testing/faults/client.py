"""KV clients over the Consul HTTP API (urllib), and the recorder that turns their calls into a checkable history.

Requests (Consul's KV API shapes):
- get:    ``GET /v1/kv/<key>?consistent``  -> 200 ``[{"Key", "Value": base64 or null, "ModifyIndex", ...}]`` or 404
- put:    ``PUT /v1/kv/<key>`` with the value as the body -> ``true``
- cas:    ``PUT /v1/kv/<key>?cas=<ModifyIndex>`` -> ``true`` (swapped) or ``false``
- delete: ``DELETE /v1/kv/<key>`` -> ``true``

Outcomes (history.py's statuses), decided so that the checker never sees a claim the client cannot back:
- ``ok``: a 200 with the expected body.
- ``fail`` (certainly no effect): the connection was refused (nothing was sent), or a 4xx other than 408/429 (the
  server refused the request before applying it).
- ``unknown`` (may or may not have taken effect, at any time after the call started): a timeout, a connection lost
  after sending, a 5xx (Consul answers 500 when leadership is lost while the write is being committed), or a body
  that is not what the API promises.

A cas in the history is value-based (``[expected, new]``) while Consul's is index-based: the worker reads the key
(a recorded get), then writes with ``?cas=<the ModifyIndex it read>`` and records ``cas [value read, new]``. That is
sound because every value a worker writes is unique: the ModifyIndex is unchanged exactly when no write happened
since the read, so "swapped" means the value was still the one read, and "refused" means some write (a put of a
different, unique value, or a delete) happened, so the value differs from the one read.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftstore.testing.history import Operation


class Refused(Exception):
    """The request certainly had no effect (connection refused, or a 4xx answer)."""


class Indeterminate(Exception):
    """The request may or may not have taken effect (timeout, lost connection, 5xx, unexpected answer)."""


@dataclass(frozen=True, slots=True)
class Read:
    value: str | None
    index: int  # the key's ModifyIndex, 0 when absent (what ?cas=0 means: "only if absent")


class KVClient:
    """One server's KV endpoint; every call either returns, or raises Refused or Indeterminate."""

    def __init__(self, base_url: str, timeout: float = 2.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def _url(self, key: str, query: dict[str, str]) -> str:
        path = "/v1/kv/" + urllib.parse.quote(key, safe="/")
        return self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def _request(self, method: str, key: str, query: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self._url(key, query), data=body, method=method)
        if self.token:
            request.add_header("X-Consul-Token", self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status: int = response.status
                return status, response.read()
        except urllib.error.HTTPError as error:
            payload = error.read()
            error.close()
            if 400 <= error.code < 500 and error.code not in (408, 429):
                if error.code == 404:
                    return 404, payload
                raise Refused(f"{method} {key}: HTTP {error.code} {payload[:200]!r}") from None
            raise Indeterminate(f"{method} {key}: HTTP {error.code} {payload[:200]!r}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                raise Refused(f"{method} {key}: connection refused") from None
            raise Indeterminate(f"{method} {key}: {error.reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
            raise Indeterminate(f"{method} {key}: {type(error).__name__}: {error}") from None

    def get(self, key: str) -> Read:
        status, body = self._request("GET", key, {"consistent": ""})
        if status == 404:
            return Read(None, 0)
        try:
            entries = json.loads(body)
            entry = entries[0]
            raw = entry["Value"]
            value = None if raw is None else base64.b64decode(raw).decode()
            index = int(entry["ModifyIndex"])
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise Indeterminate(f"GET {key}: unexpected answer {body[:200]!r}: {error}") from None
        return Read(value if value is not None else "", index)

    def _boolean(self, method: str, key: str, query: dict[str, str], body: bytes | None) -> bool:
        _status, answer = self._request(method, key, query, body)
        text = answer.strip()
        if text == b"true":
            return True
        if text == b"false":
            return False
        raise Indeterminate(f"{method} {key}: expected true or false, got {answer[:200]!r}")

    def put(self, key: str, value: str) -> bool:
        return self._boolean("PUT", key, {}, value.encode())

    def cas(self, key: str, value: str, index: int) -> bool:
        return self._boolean("PUT", key, {"cas": str(index)}, value.encode())

    def delete(self, key: str) -> bool:
        return self._boolean("DELETE", key, {}, None)


class HistoryRecorder:
    """Collects `Operation`s from many threads on one monotonic clock (the run's start is time 0)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self.operations: list[Operation] = []

    def now(self) -> float:
        return self._clock() - self._start

    def call(self, client: int, op: str, key: str, value: Any, action: Callable[[], Any]) -> Operation:
        """Run `action` (a KVClient call) and record it; returns the recorded operation."""
        invoke = self.now()
        try:
            output = action()
        except Refused:
            operation = Operation(client, op, key, value, None, invoke, self.now(), "fail")  # type: ignore[arg-type]
        except Indeterminate:
            operation = Operation(client, op, key, value, None, invoke, None, "unknown")  # type: ignore[arg-type]
        else:
            operation = Operation(client, op, key, value, output, invoke, self.now(), "ok")  # type: ignore[arg-type]
        with self._lock:
            self.operations.append(operation)
        return operation

    def history(self) -> list[Operation]:
        with self._lock:
            return list(self.operations)


class Worker:
    """One client thread's loop: random get / put / cas / delete on a few keys of one server, until `stop`."""

    def __init__(self, client_id: int, kv: KVClient, keys: list[str], seed: int, recorder: HistoryRecorder) -> None:
        self.client_id = client_id
        self.kv = kv
        self.keys = keys
        self.rng = random.Random(seed)
        self.recorder = recorder
        self.written = 0

    def _value(self) -> str:
        self.written += 1
        return f"c{self.client_id}-{self.written}"  # unique across the run: see the module docstring on cas

    def step(self) -> None:
        kv, rec, cid = self.kv, self.recorder, self.client_id
        key = self.rng.choice(self.keys)
        roll = self.rng.random()
        if roll < 0.35:
            rec.call(cid, "get", key, None, lambda: kv.get(key).value)
        elif roll < 0.65:
            value = self._value()
            rec.call(cid, "put", key, value, lambda: _none(kv.put(key, value)))
        elif roll < 0.9:
            box: list[Read] = []
            read = rec.call(cid, "get", key, None, lambda: _keep(box, kv.get(key)).value)
            if read.status != "ok":
                return
            value = self._value()
            rec.call(cid, "cas", key, (read.output, value), lambda: kv.cas(key, value, box[0].index))
        else:
            rec.call(cid, "delete", key, None, lambda: _none(kv.delete(key)))

    def run(self, stop: threading.Event, pause: float = 0.0) -> None:
        while not stop.is_set():
            self.step()
            if pause:
                stop.wait(pause)


def _none(acknowledged: bool) -> None:
    """A put or delete answers true; anything else is not the acknowledgement the API promises."""
    if not acknowledged:
        raise Indeterminate("the write was answered false")
    return None


def _keep(box: list[Read], read: Read) -> Read:
    box.append(read)
    return read
