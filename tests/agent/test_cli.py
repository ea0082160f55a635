"""The command line: `raftstore agent --dev` as a real process (port 0 read back, ready fast, clean exit on
SIGTERM), and the HTTP clients `kv`, `members`, `operator raft`, `info` against an in-process agent."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from raftstore.agent.server import AgentThread
from raftstore.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_agent_process_starts_fast_and_stops_on_sigterm(tmp_path: Path) -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "raftstore", "agent", "-dev", "-http-addr", "127.0.0.1:0", "-node", "proc"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("raftstore agent: HTTP API on http://127.0.0.1:"), line
        address = line.rsplit("//", 1)[1].strip()
        ready = time.monotonic() - started
        code = main(["kv", "put", "--http-addr", address, "from-cli", "v"])
        assert code == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, err = process.communicate(timeout=30)
        assert "agent stopped" in err and "level=info" in err
        print(f"agent process ready after {ready:.2f}s (interpreter start included)")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_agent_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_such_setting": 1}))
    code, _, err = _run(capsys, "agent", "-dev", "-config-file", str(bad))
    assert code == 2 and "unknown key 'no_such_setting'" in err
    code, _, err = _run(capsys, "agent", "-dev", "-http-addr", "nonsense")
    assert code == 2 and "HOST:PORT" in err


def test_agent_address_in_use_is_a_clear_error(tmp_path: Path) -> None:
    """A Raft or HTTP address someone else holds: one line naming it and a non-zero exit, no traceback. (Real
    processes: in-process, the agent's logging set-up would outlive the test.)"""

    def agent(*flags: str) -> tuple[int, str]:
        command = [sys.executable, "-m", "raftstore", "agent", "-node", "n1", *flags]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stderr

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        code, err = agent("-data-dir", str(tmp_path / "raft"), "-raft-addr", taken, "-http-addr", "127.0.0.1:0")
        assert code == 1 and "raftstore agent: cannot start:" in err and "address already in use" in err, err
        assert "Traceback" not in err
        code, err = agent("-dev", "-http-addr", taken)
        assert code == 2 and f"raftstore agent: cannot listen on {taken}: Address already in use" in err, err
        assert "Traceback" not in err


def test_kv_commands(agent: AgentThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    addr = agent.http_address
    code, out, _ = _run(capsys, "kv", "put", "-http-addr", addr, "-flags", "5", "app/a", "alpha")
    assert code == 0 and out == "Success! Data written to: app/a\n"
    monkeypatch.setenv("RAFTSTORE_HTTP_ADDR", addr)
    assert _run(capsys, "kv", "put", "app/b/c", "gamma")[0] == 0
    assert _run(capsys, "kv", "get", "app/a") == (0, "alpha\n", "")
    code, out, _ = _run(capsys, "kv", "get", "-recurse", "app/")
    assert out == "app/a:alpha\napp/b/c:gamma\n"
    assert _run(capsys, "kv", "get", "-keys", "app/")[1] == "app/a\napp/b/\n"
    code, out, _ = _run(capsys, "kv", "get", "-detailed", "app/a")
    assert "Flags            5" in out and "Value            alpha" in out
    code, _, err = _run(capsys, "kv", "get", "app/missing")
    assert code == 1 and "No key exists" in err
    with urllib.request.urlopen(f"http://{addr}/v1/kv/app/a", timeout=30) as answer:
        modify = json.loads(answer.read())[0]["ModifyIndex"]
    code, _, err = _run(capsys, "kv", "put", "-cas", "-modify-index", str(modify + 5), "app/a", "x")
    assert code == 1 and "CAS failed" in err
    assert _run(capsys, "kv", "put", "-cas", "-modify-index", str(modify), "app/a", "beta")[0] == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin")))
    assert _run(capsys, "kv", "put", "app/stdin", "-")[0] == 0
    assert _run(capsys, "kv", "get", "app/stdin")[1] == "from stdin\n"
    assert _run(capsys, "kv", "delete", "app/a")[1] == "Success! Deleted key: app/a\n"
    assert _run(capsys, "kv", "delete", "-recurse", "app/")[0] == 0
    assert _run(capsys, "kv", "get", "-recurse", "app/")[1] == ""


def test_members_operator_and_info(agent: AgentThread, capsys: pytest.CaptureFixture[str]) -> None:
    addr = agent.http_address
    code, out, _ = _run(capsys, "members", "-http-addr", addr)
    assert code == 0 and out.splitlines()[0].split() == ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC"]
    assert out.splitlines()[1].split()[:4] == ["node-1", "127.0.0.1:8300", "alive", "server"]
    code, out, _ = _run(capsys, "operator", "raft", "list-peers", "-http-addr", addr)
    assert code == 0 and "leader" in out.splitlines()[1] and "node-1" in out
    code, _, err = _run(capsys, "operator", "raft", "remove-peer", "-http-addr", addr, "-address", "10.9.9.9:8300")
    assert code == 1 and "500" in err
    code, out, _ = _run(capsys, "info", "-http-addr", addr)
    assert code == 0 and "raft:" in out and "\tstate = Leader" in out and "consul:" in out


def test_token_from_flag_and_environment(agent_factory, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from raftstore.agent.config import AgentConfig

    agent = agent_factory(AgentConfig(dev=True, node_name="t", http_addr="127.0.0.1:0", token="tok"))
    monkeypatch.setenv("CONSUL_HTTP_ADDR", agent.http_address)
    monkeypatch.delenv("RAFTSTORE_HTTP_ADDR", raising=False)
    code, _, err = _run(capsys, "kv", "put", "k", "v")
    assert code == 1 and "403" in err
    assert _run(capsys, "kv", "put", "-token", "tok", "k", "v")[0] == 0
    monkeypatch.setenv("RAFTSTORE_HTTP_TOKEN", "tok")
    assert _run(capsys, "kv", "delete", "k")[0] == 0


def test_unreachable_agent(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "kv", "get", "-http-addr", "127.0.0.1:9", "k")
    assert code == 1 and "Error connecting" in err


def test_environment_is_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    from raftstore.agent.client import resolve_addr, resolve_token

    for name in ("RAFTSTORE_HTTP_ADDR", "CONSUL_HTTP_ADDR", "RAFTSTORE_HTTP_TOKEN", "CONSUL_HTTP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_addr(None) == "http://127.0.0.1:8500" and resolve_token(None) is None
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "https://10.0.0.1:8501")
    assert resolve_addr(None) == "https://10.0.0.1:8501"
    assert os.environ["CONSUL_HTTP_ADDR"]
