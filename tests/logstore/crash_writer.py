"""The writer of the crash tests (tests/logstore/test_crash.py), run as a child process and killed with SIGKILL.

    python crash_writer.py IMPL DIRECTORY SEED

Opens the store (IMPL: wal or pywal), prints READY with its first and last index, then runs random operations
forever: append batches, head truncation, tail truncation, then a term bump (set_uint64). Before each operation
it prints `B <op>` and after it returns `A <op>`, flushing each line, so the parent knows every acknowledged
operation and the one (at most) in flight. Entry content is a function of (index, term): see entry_data().
"""

from __future__ import annotations

import hashlib
import random
import sys

from raftstore.logstore import Log, PyWALStore, WALStore


def entry_data(index: int, term: int) -> bytes:
    return hashlib.blake2b(b"%d:%d" % (index, term), digest_size=16).digest() * (1 + index % 23)


def main() -> None:
    impl, directory, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cls = WALStore if impl == "wal" else PyWALStore
    store = cls(directory, segment_size=64 << 10, sync=True)
    rng = random.Random(seed)
    out = sys.stdout
    term = store.get_uint64(b"CurrentTerm") or 1
    out.write(f"READY {store.first_index()} {store.last_index()} {term}\n")
    out.flush()
    bump = False
    while True:
        first, last = store.first_index(), store.last_index()
        roll = rng.random()
        if bump:  # after a tail truncation, a new term (a separate, atomic step)
            op = f"S {term + 1}"
            bump = False
        elif roll < 0.05 and last - first > 50:
            op = f"H {rng.randrange(first, last - 10)}"
        elif roll < 0.10 and last - first > 50:
            op = f"T {rng.randrange(last - 40, last + 1)}"
            bump = True
        else:
            n = rng.choice((1, 1, 3, 17, 64, 200))
            op = f"P {last + 1 if last else rng.randrange(1, 1000)} {n} {term}"
        out.write(f"B {op}\n")
        out.flush()
        kind, *args = op.split()
        a = [int(x) for x in args]
        if kind == "H":
            store.delete_range(first, a[0])
        elif kind == "T":
            store.delete_range(a[0], last)
        elif kind == "S":
            store.set_uint64(b"CurrentTerm", a[0])
            term = a[0]
        else:
            store.store_logs([Log(i, a[2], data=entry_data(i, a[2])) for i in range(a[0], a[0] + a[1])])
        out.write(f"A {op}\n")
        out.flush()


if __name__ == "__main__":
    main()
