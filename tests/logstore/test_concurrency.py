"""Threads: readers never wait for the writer's fdatasync, a batch is visible only once durable, and concurrent
reads, appends and truncations stay consistent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from raftstore.logstore import Log, LogNotFoundError, PyWALStore, WALStore

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* fdatasync that, while the file named by $RAFTSTORE_SLOW_SYNC exists, first creates "$RAFTSTORE_SLOW_SYNC.in" and
   sleeps 1.5 s: a disk slow enough to see who waits for it. */
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *flag = getenv("RAFTSTORE_SLOW_SYNC");
    if (flag && access(flag, F_OK) == 0) {
        char in[4096];
        strncpy(in, flag, sizeof in - 4);
        in[sizeof in - 4] = 0;
        strcat(in, ".in");
        int f = open(in, O_CREAT | O_WRONLY, 0644);
        if (f >= 0) close(f);
        usleep(1500000);
    }
    return real(fd);
}
"""

CHILD = r"""
import json, os, sys, threading, time
from raftstore.logstore import Log, WALStore
directory, flag = sys.argv[1], sys.argv[2]
store = WALStore(directory, segment_size=1 << 20, sync=True)
store.store_logs([Log(i, 1, data=b"d%d" % i) for i in range(1, 101)])
store.set_uint64(b"CurrentTerm", 1)
open(flag, "w").close()
done = threading.Event()
def writer():
    store.store_logs([Log(i, 2, data=b"n%d" % i) for i in range(101, 165)])
    done.set()
t = threading.Thread(target=writer)
t.start()
deadline = time.monotonic() + 60
while not os.path.exists(flag + ".in"):  # the writer is inside fdatasync now
    assert time.monotonic() < deadline, "the writer never reached fdatasync"
    time.sleep(0.001)
reads, last_seen = 0, set()
while reads < 300 and not done.is_set():
    last_seen.add(store.last_index())
    assert store.get_log(1 + reads % 100).data == b"d%d" % (1 + reads % 100)
    assert len(store.get_logs(1, 100)) == 100
    assert store.get_uint64(b"CurrentTerm") == 1
    reads += 1
finished_first = not done.is_set()
os.unlink(flag)
t.join()
print(json.dumps({"reads": reads, "reader_finished_first": finished_first, "last_seen": sorted(last_seen),
                  "last_after": store.last_index()}))
store.close()
"""


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def test_readers_do_not_wait_for_fdatasync(tmp_path: Path) -> None:
    cc = _compiler()
    if cc is None:
        pytest.fail("a C compiler is needed to build the slow-fdatasync shim (the package itself needs one)")
    shim = tmp_path / "slowsync.so"
    (tmp_path / "slowsync.c").write_text(SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(shim), str(tmp_path / "slowsync.c"), "-ldl"], check=True)
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(x for x in (env.get("LD_PRELOAD", ""), str(shim)) if x)
    env["RAFTSTORE_SLOW_SYNC"] = str(tmp_path / "slow.flag")
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "wal"), str(tmp_path / "slow.flag")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # 300 rounds of reads completed while the writer sat in a 1.5 s fdatasync: they never waited for it ...
    assert result["reader_finished_first"] and result["reads"] == 300, result
    # ... and never saw the batch being synced: it is published only once durable.
    assert result["last_seen"] == [100], result
    assert result["last_after"] == 164


def _content(index: int, term: int) -> bytes:
    return b"%d/%d" % (index, term) * (1 + index % 5)


@pytest.mark.parametrize(
    "cls", [pytest.param(WALStore, id="wal"), pytest.param(PyWALStore, id="pywal", marks=pytest.mark.pure_python)]
)
def test_concurrent_readers_writer_and_truncation(cls: Any, tmp_path: Path) -> None:
    store = cls(tmp_path / "wal", segment_size=64 << 10, sync=False)
    stop = threading.Event()
    errors: list[BaseException] = []
    checked = [0]

    def reader(seed: int) -> None:
        import random

        rng = random.Random(seed)
        try:
            while not stop.is_set():
                first, last = store.first_index(), store.last_index()
                if not last:
                    continue
                i = rng.randint(first, last)
                try:
                    log = store.get_log(i)
                    batch = store.get_logs(i, min(last, i + 20))
                except LogNotFoundError:
                    continue  # truncated between the two calls
                assert log.index == i and log.data == _content(i, 1)
                assert [x.index for x in batch] == list(range(i, i + len(batch)))
                assert all(x.data == _content(x.index, 1) for x in batch)
                checked[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        for lo in range(1, 20001, 250):
            store.store_logs([Log(i, 1, data=_content(i, 1)) for i in range(lo, lo + 250)])
            if lo % 5000 == 1 and lo > 1:
                store.delete_range(1, lo - 3000)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
        store.close()
    assert not errors, errors[0]
    assert checked[0] > 0
