"""``python -m raftstore.testing.fuzz TARGET --runs N [--seed S] [--driver auto|atheris|random]``.

Runs one target (or ``all``) for N inputs; the random driver ends with ``TARGET: N inputs, 0 failures in T s``,
atheris with libFuzzer's ``Done N runs in T second(s)``. A failing input is
written to ``--artifacts`` (default: the current directory) and the exit status is 1; ``--reproduce FILE`` runs one
saved input again. ``list`` prints the targets with the contract each checks.

Drivers: ``atheris`` (coverage-guided libFuzzer over the Python code, when the package is installed: the C WAL's
code is exercised but not instrumented) and ``random`` (seeded random mutation of the target's valid seeds, no
coverage feedback, no dependency). ``auto`` picks atheris when it imports.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import importlib.util
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raftstore.testing.fuzz.mutate import mutate
from raftstore.testing.fuzz.targets import TARGETS, Target

MAX_LEN = 1 << 16


def _save(target: str, data: bytes, artifacts: Path) -> Path:
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / f"fuzz-failure-{target}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


class InputTimeout(Exception):
    """One input ran longer than the per-input limit: a hang is a failure like a crash."""


def _on_alarm(signum: int, frame: object) -> None:
    raise InputTimeout("input exceeded the per-input time limit")


def run_random(target: Target, runs: int, seed: int, artifacts: Path, timeout: float = 30.0) -> int:
    """Mutate the seeds `runs` times; on the first failure (an exception, or `timeout` seconds on one input: a hang)
    save the input and return 1."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        return _random_loop(target, runs, seed, artifacts, timeout)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _random_loop(target: Target, runs: int, seed: int, artifacts: Path, timeout: float) -> int:
    rng = random.Random(seed)
    corpus = [s for s in target.seeds() if len(s) <= MAX_LEN] or [b""]
    max_len = max(MAX_LEN, *(len(s) for s in corpus))
    started = time.monotonic()
    for done in range(runs):
        roll = rng.random()
        # Now and then pure noise: the decoders' very first checks (magic, length, msgpack type) get inputs too.
        noise = roll < 0.02
        data = rng.randbytes(rng.randint(0, 256)) if noise else mutate(rng.choice(corpus), rng, corpus, max_len)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            target.run(data)
            signal.setitimer(signal.ITIMER_REAL, 0)
        except Exception:
            signal.setitimer(signal.ITIMER_REAL, 0)
            path = _save(target.name, data, artifacts)
            traceback.print_exc()
            print(f"{target.name}: FAILED after {done} inputs; input saved to {path}", flush=True)
            return 1
        if roll > 0.995 and len(corpus) < 256:
            corpus.append(data)  # keep a few mutants to mutate further (no coverage signal, so few)
    elapsed = time.monotonic() - started
    print(f"{target.name}: {runs} inputs, 0 failures in {elapsed:.1f} s (driver random, seed {seed})", flush=True)
    return 0


def run_atheris(
    target: Target, runs: int, seed: int, artifacts: Path, timeout: float = 30.0
) -> int:  # pragma: no cover - needs atheris
    """libFuzzer over the target; atheris ends the process itself (exit status 0 when every run passed)."""
    atheris: Any = importlib.import_module("atheris")  # optional, untyped

    corpus = Path(tempfile.mkdtemp(prefix=f"raftstore-fuzz-{target.name}-"))
    for number, data in enumerate(target.seeds()):
        (corpus / f"seed-{number}").write_bytes(data)
    count = [0]
    started = time.monotonic()

    def one_input(data: bytes) -> None:
        count[0] += 1
        target.run(data)

    def report() -> None:
        elapsed = time.monotonic() - started
        print(f"{target.name}: {count[0]} inputs in {elapsed:.1f} s (driver atheris, seed {seed})", flush=True)
        target.close()

    atexit.register(report)  # runs when an input fails; libFuzzer ends a clean run without atexit handlers
    atheris.instrument_all()
    argv = [
        sys.argv[0],
        f"-runs={runs}",
        f"-seed={seed}",
        f"-max_len={MAX_LEN}",
        f"-artifact_prefix={artifacts}/fuzz-failure-{target.name}-",
        "-print_final_stats=1",
        f"-timeout={int(timeout)}",  # a hang is a failure like a crash
        str(corpus),
    ]
    artifacts.mkdir(parents=True, exist_ok=True)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


def _driver(requested: str) -> str:
    if requested != "auto":
        return requested
    return "atheris" if importlib.util.find_spec("atheris") is not None else "random"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftstore.testing.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=[*TARGETS, "all", "list"])
    parser.add_argument("--runs", type=int, default=10_000, help="inputs per target (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--driver", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--artifacts", type=Path, default=Path.cwd(), help="where a failing input is saved")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one input may take (a hang fails)")
    parser.add_argument("--reproduce", type=Path, help="run the target once on this saved input")
    parser.add_argument("--verbose", action="store_true", help="keep the decoders' log lines (a warning per input)")
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.disable(logging.CRITICAL)  # "closing Raft connection ...", "skipping snapshot ...": once per input
    if args.target == "list":
        for name, make in TARGETS.items():
            target = make()
            print(f"{name}: {' '.join(target.doc.split())}")
            target.close()
        return 0
    driver = _driver(args.driver)
    if args.target == "all":
        status = 0
        for name in TARGETS:  # one process per target: atheris ends the process it runs in
            command = [sys.executable, "-m", "raftstore.testing.fuzz", name, "--runs", str(args.runs)]
            command += ["--seed", str(args.seed), "--driver", driver, "--artifacts", str(args.artifacts)]
            status |= subprocess.run(command, check=False, env=os.environ.copy()).returncode
        return 1 if status else 0
    target = TARGETS[args.target]()
    try:
        if args.reproduce is not None:
            target.run(args.reproduce.read_bytes())
            print(f"{target.name}: {args.reproduce} passes")
            return 0
        if driver == "atheris":
            return run_atheris(target, args.runs, args.seed, args.artifacts, args.timeout)
        return run_random(target, args.runs, args.seed, args.artifacts, args.timeout)
    finally:
        target.close()


if __name__ == "__main__":
    sys.exit(main())
