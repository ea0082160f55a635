"""A plain random mutator, libFuzzer-style, for the driver used when atheris is not installed (and by tests).

Why mutation rather than random bytes: a random string fails every decoder's first check (a magic, a length, a
msgpack type byte); small edits of valid inputs (`Target.seeds`) reach the later checks, which is where bugs hide.
"""

from __future__ import annotations

import random
import struct

INTERESTING = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x00\x00\x00\x80",
    b"\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xc0",  # msgpack nil
    b"\xc1",  # msgpack's never-used byte
    b"\xdc\xff\xff",  # msgpack array16 of 65535
    b"\xdf\xff\xff\xff\xff",  # msgpack map32 of 2**32-1
    b"\x91" * 16,  # nested arrays
    b"[[[[[[[[",
    b'{"a":',
)


def mutate(data: bytes, rng: random.Random, corpus: list[bytes], max_len: int) -> bytes:
    """One mutant of `data`: one to six random edits (flip, set, insert, delete, duplicate, splice, truncate)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.randrange(9)
        n = len(out)
        if choice == 0 and n:
            out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif choice == 1 and n:
            out[rng.randrange(n)] = rng.randrange(256)
        elif choice == 2:
            at = rng.randint(0, n)
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif choice == 3 and n:
            at = rng.randrange(n)
            del out[at : at + rng.randint(1, min(16, n - at))]
        elif choice == 4 and n:
            at = rng.randrange(n)
            piece = out[at : at + rng.randint(1, 32)]
            where = rng.randint(0, n)
            out[where:where] = piece
        elif choice == 5 and corpus:
            other = rng.choice(corpus)
            if other:
                cut = rng.randint(0, len(out))
                start = rng.randrange(len(other))
                out[cut:] = other[start:]
        elif choice == 6 and n:
            del out[rng.randint(0, n - 1) :]
        elif choice == 7:
            token = rng.choice(INTERESTING)
            at = rng.randint(0, n)
            if rng.random() < 0.5:
                out[at : at + len(token)] = token
            else:
                out[at:at] = token
        elif n >= 4:
            at = rng.randrange(n - 3)
            (value,) = struct.unpack_from("<I", out, at)
            struct.pack_into("<I", out, at, (value + rng.choice((-1, 1, 16, -16, 1 << 16))) & 0xFFFFFFFF)
    return bytes(out[:max_len])
