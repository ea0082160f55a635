"""An in-process stand-in for a cluster's HTTP KV API (Consul's shapes), for the fault harness's tests.

`FakeStore` is one linearizable KV map (a lock around every operation, a global ModifyIndex); `FakeKVServer` serves
it over HTTP on a loopback port; `FakeCluster` is N such servers over one store, implementing `ClusterHandle`
(kill/pause make a server answer 500 without applying anything). Bugs can be switched on to prove the harness
catches them: `lose_puts` acknowledges puts without applying them, `stale` serves reads from a frozen copy.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from raftstore.testing.faults.mesh import ProxyMesh


class FakeStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index = 0
        self.data: dict[str, tuple[bytes, int]] = {}
        self.lose_puts = False

    def get(self, key: str) -> tuple[bytes, int] | None:
        with self.lock:
            return self.data.get(key)

    def put(self, key: str, value: bytes, cas: int | None) -> bool:
        with self.lock:
            current = self.data.get(key)
            if cas is not None and (current[1] if current else 0) != cas:
                return False
            if self.lose_puts and cas is None:
                return True  # the bug: acknowledged, never applied
            self.index += 1
            self.data[key] = (value, self.index)
            return True

    def delete(self, key: str) -> bool:
        with self.lock:
            self.index += 1
            self.data.pop(key, None)
            return True


class _Handler(BaseHTTPRequestHandler):
    server: FakeKVServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> tuple[str, dict[str, list[str]]] | None:
        url = urllib.parse.urlsplit(self.path)
        self.server.requests.append((self.command, url.path, url.query, self.headers.get("X-Consul-Token")))
        if self.server.down:
            self._reply(500, b"No cluster leader")
            return None
        if not url.path.startswith("/v1/kv/"):
            self._reply(400, b"bad path")
            return None
        return urllib.parse.unquote(url.path[len("/v1/kv/") :]), urllib.parse.parse_qs(
            url.query, keep_blank_values=True
        )

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        key, _ = routed
        store = self.server.stale if self.server.stale is not None else self.server.store.data
        with self.server.store.lock:
            found = store.get(key)
        if found is None:
            self._reply(404, b"")
            return
        value, index = found
        entry = {"Key": key, "Value": base64.b64encode(value).decode(), "ModifyIndex": index, "Flags": 0}
        self._reply(200, json.dumps([entry]).encode())

    def do_PUT(self) -> None:
        routed = self._route()
        if routed is None:
            return
        key, query = routed
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        cas = int(query["cas"][0]) if "cas" in query else None
        self._reply(200, b"true" if self.server.store.put(key, body, cas) else b"false")

    def do_DELETE(self) -> None:
        routed = self._route()
        if routed is None:
            return
        key, _ = routed
        self._reply(200, b"true" if self.server.store.delete(key) else b"false")


class FakeKVServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: FakeStore) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = store
        self.down = False
        self.stale: dict[str, tuple[bytes, int]] | None = None
        self.requests: list[tuple[str, str, str, str | None]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(10)


class FakeCluster:
    """N fake servers over one store; with `mesh`, a ProxyMesh over N idle listeners stands in for Raft links."""

    def __init__(self, servers: int, mesh: ProxyMesh | None = None) -> None:
        self.store = FakeStore()
        self.nodes = [FakeKVServer(self.store) for _ in range(servers)]
        self._mesh = mesh
        self.calls: list[tuple[str, int]] = []
        self.slow: dict[int, float] = {}

    @property
    def servers(self) -> int:
        return len(self.nodes)

    @property
    def mesh(self) -> ProxyMesh | None:
        return self._mesh

    def http_url(self, server: int) -> str:
        return self.nodes[server].url

    def kill(self, server: int) -> None:
        self.calls.append(("kill", server))
        self.nodes[server].down = True

    def restart(self, server: int) -> None:
        self.calls.append(("restart", server))
        self.nodes[server].down = False

    def pause(self, server: int) -> None:
        self.calls.append(("pause", server))
        self.nodes[server].down = True

    def resume(self, server: int) -> None:
        self.calls.append(("resume", server))
        self.nodes[server].down = False

    def slow_disk(self, server: int, seconds: float) -> None:
        self.calls.append(("slow_disk", server))
        self.slow[server] = seconds

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        if self._mesh is not None:
            self._mesh.close()
