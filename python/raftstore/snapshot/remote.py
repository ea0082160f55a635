"""Snapshot save and restore against a running agent's HTTP API (``GET|PUT /v1/snapshot``), and the snapshot agent
that saves rotated archives on a schedule.

Save follows Consul's CLI: the archive is streamed to ``FILE.unverified``, verified in full (hashes, members, no
trailing data), and only then renamed to FILE; a failed verification leaves no FILE behind. The snapshot agent
(an Enterprise feature in Consul) does the same on an interval into a directory, keeping the newest `retain`.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from raftstore.snapshot.archive import ArchiveError, verify_archive

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


class SnapshotRequestError(RuntimeError):
    """The agent refused or could not serve the request; the message is the agent's."""


def _url(http_addr: str, path: str) -> str:
    base = http_addr if "://" in http_addr else f"http://{http_addr}"
    return base.rstrip("/") + path


def _request(method: str, url: str, token: str | None, body: Any = None, length: int | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("X-Consul-Token", token)
    if length is not None:
        request.add_header("Content-Length", str(length))
    try:
        return urllib.request.urlopen(request, timeout=600)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace").strip()
        raise SnapshotRequestError(f"Unexpected response code: {error.code} ({detail})") from None
    except urllib.error.URLError as error:
        raise SnapshotRequestError(f"Error connecting to {url}: {error.reason}") from None


def save(http_addr: str, path: str | os.PathLike[str], token: str | None = None, stale: bool = False) -> int:
    """Save a verified archive to `path`; returns its Raft index."""
    target = Path(path)
    unverified = target.with_name(target.name + ".unverified")
    query = "?stale" if stale else ""
    with _request("GET", _url(http_addr, "/v1/snapshot" + query), token) as response:
        header = response.headers.get("X-Consul-Index", "0")
        with open(unverified, "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    try:
        with open(unverified, "rb") as archive:
            meta = verify_archive(archive)
    except ArchiveError as error:
        unverified.unlink(missing_ok=True)
        raise SnapshotRequestError(f"Error verifying snapshot file: {error}") from None
    os.replace(unverified, target)
    index = meta.get("Index")
    return index if isinstance(index, int) else int(header)


def restore(http_addr: str, path: str | os.PathLike[str], token: str | None = None) -> None:
    source = Path(path)
    with open(source, "rb") as archive:
        verify_archive(archive)  # refuse a damaged file before the cluster sees a byte of it
        archive.seek(0)
        with _request("PUT", _url(http_addr, "/v1/snapshot"), token, archive, source.stat().st_size):
            pass


def snapshot_agent(
    http_addr: str,
    directory: str | os.PathLike[str],
    interval: float,
    retain: int,
    token: str | None = None,
    rounds: int | None = None,
) -> None:
    """Save ``raftstore-<unix ms>.snap`` into `directory` every `interval` seconds, keeping the newest `retain`.
    A failed round is logged and retried next interval. `rounds` bounds the loop (tests); None runs forever."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        target = folder / f"raftstore-{int(time.time() * 1000)}.snap"
        try:
            index = save(http_addr, target, token)
            log.info("saved snapshot %s at index %d", target.name, index)
            print(f"Saved snapshot {target} at index {index}", flush=True)
        except (SnapshotRequestError, OSError) as error:
            log.error("snapshot round failed: %s", error)
            print(f"Snapshot failed: {error}", flush=True)
        for old in sorted(folder.glob("raftstore-*.snap"))[:-retain]:
            old.unlink(missing_ok=True)
        done += 1
        if rounds is None or done < rounds:
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
