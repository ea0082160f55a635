"""The Raft peers of the cluster benchmark (benchmarks/peers): each peer either produces a well-formed result in a
very short run, or is reported unavailable with its install hint (the one allowed skip: an absent optional peer)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import peers
from peers import _support

pytestmark = pytest.mark.pure_python


def run_or_skip(name: str, workdir: Path) -> dict[str, Any]:
    try:
        return peers.run(name, servers=3, in_flight=4, seconds=1.0, workdir=workdir)
    except peers.PeerUnavailable as missing:
        assert "install" in str(missing)
        pytest.skip(f"peer {name} unavailable: {missing}")


@pytest.mark.parametrize("name", peers.PEERS)
def test_peer_gives_a_well_formed_result(name: str, tmp_path: Path) -> None:
    result = run_or_skip(name, tmp_path)
    assert result["peer"] == name
    assert isinstance(result["version"], str) and result["version"]
    assert isinstance(result["ops"], int) and result["ops"] > 0
    assert result["errors"] == 0
    assert result["commits_per_s"] > 0
    assert 0 < result["p50_us"] <= result["p99_us"]
    # Throughput and latency describe the same run: with 4 in flight, ops/s cannot beat 4 / (fastest latency).
    assert result["commits_per_s"] <= 4 / (result["p50_us"] / 1e6) * 50


def test_unknown_peer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown peer"):
        peers.run("zookeeper", servers=3, in_flight=1, seconds=1.0, workdir=tmp_path)


@pytest.mark.parametrize(
    ("name", "hint"),
    [("etcd", "apt-get install etcd-server"), ("hashicorp-raft", "apt-get install golang-go")],
)
def test_missing_software_is_reported_with_its_install_hint(
    name: str, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(peers.PeerUnavailable, match=hint):
        peers.run(name, servers=3, in_flight=1, seconds=1.0, workdir=tmp_path)


def test_missing_pysyncobj_is_reported_with_its_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peers import pysyncobj_peer

    monkeypatch.setattr(pysyncobj_peer.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(peers.PeerUnavailable, match="pip install pysyncobj"):
        peers.run("pysyncobj", servers=3, in_flight=1, seconds=1.0, workdir=tmp_path)


def test_process_group_ends_every_process_even_on_error(tmp_path: Path) -> None:
    started: list[subprocess.Popen[bytes]] = []
    with pytest.raises(RuntimeError, match="boom"), _support.process_group() as group:
        for i in range(2):
            # A child that ignores SIGTERM, so the SIGKILL fallback is exercised too.
            started.append(
                group.start(
                    f"p{i}",
                    [
                        sys.executable,
                        "-c",
                        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                        "print('up', flush=True); time.sleep(120)",
                    ],
                    tmp_path / f"p{i}.log",
                )
            )
        _support.wait_for(
            "children up", lambda: all((tmp_path / f"p{i}.log").read_text() for i in range(2)) or None, 30
        )
        raise RuntimeError("boom")
    assert all(process.poll() is not None for process in started)


def test_wait_for_fails_fast_when_a_server_dies(tmp_path: Path) -> None:
    with _support.process_group() as group:
        group.start("dies", [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"], tmp_path / "d.log")
        began = time.monotonic()
        with pytest.raises(RuntimeError, match=r"(?s)exited with status 3.*bad config"):
            _support.wait_for("never", lambda: None, 60, group)
        assert time.monotonic() - began < 30


def test_summarise_uses_nearest_rank_percentiles() -> None:
    figures = _support.summarise([i * 1000 for i in range(1, 101)], elapsed_s=2.0)
    assert figures["ops"] == 100 and figures["commits_per_s"] == 50.0
    assert figures["p50_us"] == 50.0 and figures["p99_us"] == 99.0
