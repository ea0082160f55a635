"""The HTTP KV client and history recorder against a fake Consul KV server: request shapes, outcome classification
(ok / fail / unknown), and histories that the linearizability checker accepts."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from raftstore.testing.faults.client import HistoryRecorder, Indeterminate, KVClient, Read, Refused, Worker
from raftstore.testing.linearizability import check_kv

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the support module by path
from faults_support import FakeKVServer, FakeStore

pytestmark = pytest.mark.pure_python


@pytest.fixture
def server() -> Iterator[FakeKVServer]:
    made = FakeKVServer(FakeStore())
    yield made
    made.stop()


def test_get_put_cas_delete(server: FakeKVServer) -> None:
    kv = KVClient(server.url, token="secret")
    assert kv.get("a/b c") == Read(None, 0)
    assert kv.put("a/b c", "v1") is True
    read = kv.get("a/b c")
    assert read.value == "v1" and read.index > 0
    assert kv.cas("a/b c", "v2", read.index + 7) is False
    assert kv.cas("a/b c", "v2", read.index) is True
    assert kv.get("a/b c").value == "v2"
    assert kv.cas("new", "n", 0) is True and kv.cas("new", "n2", 0) is False  # cas=0: only if absent
    assert kv.delete("a/b c") is True and kv.get("a/b c").value is None
    methods = [(m, path, query) for m, path, query, _ in server.requests]
    assert ("GET", "/v1/kv/a/b%20c", "consistent=") in methods
    assert ("PUT", "/v1/kv/a/b%20c", f"cas={read.index}") in methods
    assert ("DELETE", "/v1/kv/a/b%20c", "") in methods
    assert {token for *_, token in server.requests} == {"secret"}


def test_outcomes(server: FakeKVServer) -> None:
    recorder = HistoryRecorder()
    kv = KVClient(server.url, timeout=2.0)
    assert recorder.call(1, "put", "k", "v", lambda: kv.put("k", "v")).status == "ok"
    server.down = True  # 500: the write may have been applied
    unknown = recorder.call(1, "put", "k", "w", lambda: kv.put("k", "w"))
    assert unknown.status == "unknown" and unknown.complete is None
    server.down = False
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    refused = KVClient(f"http://127.0.0.1:{closed_port}")
    failed = recorder.call(2, "put", "k", "x", lambda: refused.put("k", "x"))
    assert failed.status == "fail" and failed.complete is not None
    with pytest.raises(Refused, match="HTTP 400"):  # refused before applying: certainly no effect
        KVClient(server.url + "/nope").put("k", "x")


class _Slow(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        time.sleep(1.5)
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"not json")


def test_timeouts_and_garbled_answers_are_unknown() -> None:
    slow = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    slow.daemon_threads = True
    thread = threading.Thread(target=slow.serve_forever, daemon=True)
    thread.start()
    try:
        kv = KVClient(f"http://127.0.0.1:{slow.server_address[1]}", timeout=0.3)
        with pytest.raises(Indeterminate):
            kv.put("k", "v")
        with pytest.raises(Indeterminate, match="unexpected answer"):
            kv.get("k")
    finally:
        slow.shutdown()
        slow.server_close()
        thread.join(10)


def test_workers_record_a_linearizable_history(server: FakeKVServer) -> None:
    recorder = HistoryRecorder()
    keys = ["x", "y"]
    workers = [Worker(i, KVClient(server.url), keys, i, recorder) for i in range(4)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(recorder.history()) < 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    history = recorder.history()
    assert len(history) >= 400
    assert {op.op for op in history} == {"get", "put", "cas", "delete"}
    assert any(op.op == "cas" and op.output is True for op in history)
    assert all(op.status == "ok" for op in history)
    assert check_kv(history, timeout=60)


def test_the_recorder_catches_a_server_that_loses_writes(server: FakeKVServer) -> None:
    recorder = HistoryRecorder()
    kv = KVClient(server.url)
    assert recorder.call(0, "put", "k", "a", lambda: kv.put("k", "a")).output is True
    server.store.lose_puts = True
    assert recorder.call(0, "put", "k", "b", lambda: kv.put("k", "b")).status == "ok"
    recorder.call(1, "get", "k", None, lambda: kv.get("k").value)
    result = check_kv(recorder.history())
    assert not result and result.verdict == "not linearizable"
