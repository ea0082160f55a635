"""One PySyncObj server of the pysyncobj peer (run as a script by pysyncobj_peer.py; imports nothing of raftstore).

A SyncObj holding a dict, with the file journal (``journalFile``) and full dump (``fullDumpFile``) on, and an HTTP
control port: ``GET /state`` answers whether this server is the leader; ``POST /run?...`` on the leader keeps
``in_flight`` replicated ``set`` calls outstanding for ``seconds`` (each callback records the latency and issues the
next command) and answers the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated


class KeyValue(SyncObj):  # type: ignore[misc]
    def __init__(self, self_address: str, partners: list[str], conf: SyncObjConf) -> None:
        super().__init__(self_address, partners, conf=conf)
        self.data: dict[bytes, bytes] = {}

    @replicated  # type: ignore[misc]
    def set(self, key: bytes, value: bytes) -> None:
        self.data[key] = value


def run_load(store: KeyValue, in_flight: int, seconds: float, key_size: int, value_size: int) -> dict[str, Any]:
    value = b"v" * value_size
    latencies: list[int] = []
    errors = [0]
    outstanding = [in_flight]
    lock = threading.Lock()
    done = threading.Event()
    deadline = time.monotonic() + seconds

    def issue(worker: int, n: int) -> None:
        key = f"{(worker * 1_000_003 + n) % 100_000:0{key_size}d}".encode()
        begin = time.perf_counter_ns()

        def callback(_result: Any, error: int) -> None:
            # Runs on PySyncObj's own thread once the command is committed and applied (or failed).
            with lock:
                if error == FAIL_REASON.SUCCESS:
                    latencies.append(time.perf_counter_ns() - begin)
                else:
                    errors[0] += 1
                if time.monotonic() >= deadline:
                    outstanding[0] -= 1
                    if outstanding[0] == 0:
                        done.set()
                    return
            issue(worker, n + 1)

        store.set(key, value, callback=callback)

    started = time.monotonic()
    for worker in range(in_flight):
        issue(worker, 0)
    if not done.wait(timeout=seconds + 60):
        raise RuntimeError(f"{outstanding[0]} commands still outstanding a minute after the deadline")
    elapsed = time.monotonic() - started
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[int(q * (len(latencies) - 1))] / 1000.0 if latencies else 0.0

    return {
        "commits_per_s": len(latencies) / elapsed,
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
        "ops": len(latencies),
        "errors": errors[0],
        "elapsed_s": elapsed,
    }


def make_handler(store: KeyValue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.answer(200, {"leader": store._isLeader(), "ready": store.isReady()})

        def do_POST(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if not store._isLeader():
                self.answer(409, {"error": "not the leader"})
                return
            try:
                result = run_load(
                    store,
                    int(query["in_flight"]),
                    float(query["seconds"]),
                    int(query["key_size"]),
                    int(query["value_size"]),
                )
            except (KeyError, ValueError, RuntimeError) as error:
                self.answer(400, {"error": str(error)})
                return
            self.answer(200, result)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--self", required=True, dest="self_address")
    parser.add_argument("--partners", required=True, help="comma-separated host:port of the other servers")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--control", type=int, required=True)
    args = parser.parse_args()
    conf = SyncObjConf(journalFile=f"{args.dir}/journal", fullDumpFile=f"{args.dir}/dump")
    store = KeyValue(args.self_address, [p for p in args.partners.split(",") if p], conf)
    server = ThreadingHTTPServer(("127.0.0.1", args.control), make_handler(store))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
