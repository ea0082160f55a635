"""hashicorp/raft (the library Consul runs on) with raft-boltdb, as Debian packages it: hashiraft/main.go is built
once per source version against /usr/share/gocode and run as one process per server; the leader process generates
the load itself through raft.Apply (see main.go), so no client round trip is measured."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from raftstore.testing.raftproc.cpu import cpu_us_per_commit, process_cpu_seconds

from ._support import PeerUnavailable, free_ports, http_json, process_group, try_http_json, wait_for

INSTALL_HINT = "apt-get install golang-go golang-github-hashicorp-raft-dev golang-github-hashicorp-raft-boltdb-dev"
SOURCE_DIR = Path(__file__).resolve().parent / "hashiraft"
GOPATH = Path("/usr/share/gocode")
PACKAGES = ("golang-github-hashicorp-raft-dev", "golang-github-hashicorp-raft-boltdb-dev")


def debian_version(package: str) -> str | None:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status} ${Version}", package], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    status, _, version = out.stdout.rpartition(" ")
    return version if out.returncode == 0 and status.endswith("installed") else None


def build(workdir: Path) -> Path:
    """The server binary, built into ``workdir`` (reused when the source has not changed since)."""
    go = shutil.which("go")
    if go is None:
        raise PeerUnavailable(f"hashicorp-raft: no Go toolchain (go) on PATH; install with: {INSTALL_HINT}")
    for package in PACKAGES:
        if debian_version(package) is None:
            raise PeerUnavailable(
                f"hashicorp-raft: Debian package {package} is not installed; install with: {INSTALL_HINT}"
            )
    digest = hashlib.sha256((SOURCE_DIR / "main.go").read_bytes()).hexdigest()[:16]
    binary = workdir / f"hashiraft-{digest}"
    if binary.exists():
        return binary
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOFLAGS": ""}
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = str(workdir / "gocache")
    partial = binary.with_suffix(".partial")
    result = subprocess.run(
        [go, "build", "-o", str(partial), "."], cwd=SOURCE_DIR, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PeerUnavailable(
            f"hashicorp-raft: building hashiraft/main.go failed:\n{result.stderr[-2000:]}\ninstall with: {INSTALL_HINT}"
        )
    partial.rename(binary)
    return binary


def run(
    *, servers: int, in_flight: int, seconds: float, key_size: int, value_size: int, workdir: Path
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    binary = build(workdir)
    ports = free_ports(2 * servers)
    raft_addrs = [f"127.0.0.1:{ports[2 * i]}" for i in range(servers)]
    controls = [f"http://127.0.0.1:{ports[2 * i + 1]}" for i in range(servers)]
    with process_group() as group:
        for i in range(servers):
            data = workdir / f"server{i}"
            data.mkdir(parents=True, exist_ok=True)
            group.start(
                f"hashiraft server{i}",
                [
                    str(binary),
                    "-id",
                    f"server{i}",
                    "-dir",
                    str(data),
                    "-raft",
                    raft_addrs[i],
                    "-control",
                    controls[i].removeprefix("http://"),
                ],
                data / "stdout.log",
            )
        for control in controls:
            wait_for(f"{control}/state", lambda c=control: try_http_json("GET", f"{c}/state"), 30, group)
        membership = ",".join(f"server{i}={addr}" for i, addr in enumerate(raft_addrs))
        http_json("POST", f"{controls[0]}/bootstrap?servers={membership}", timeout=30)

        def leader_control() -> str | None:
            for control in controls:
                state = try_http_json("GET", f"{control}/state")
                if state is not None and state.get("state") == "Leader":
                    return control
            return None

        leader = wait_for("a hashicorp-raft leader", leader_control, 60, group)
        query = f"key_size={key_size}&value_size={value_size}"
        warm_up = min(1.0, seconds / 5)
        http_json("POST", f"{leader}/run?in_flight={min(in_flight, 8)}&seconds={warm_up}&{query}", timeout=60)
        pids = group.pids()
        cpu_before = process_cpu_seconds(pids)
        result: dict[str, Any] = http_json(
            "POST", f"{leader}/run?in_flight={in_flight}&seconds={seconds}&{query}", timeout=seconds + 120
        )
        result["cpu_us_per_commit"] = cpu_us_per_commit(cpu_before, process_cpu_seconds(pids), int(result["ops"]))
    result["version"] = f"hashicorp/raft {debian_version(PACKAGES[0])}, raft-boltdb {debian_version(PACKAGES[1])}"
    result["note"] = "load generated inside the leader process through raft.Apply (BoltDB store, fsync on)"
    return result
