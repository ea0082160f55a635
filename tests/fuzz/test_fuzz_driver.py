"""The fuzz command line's random-mutation driver: it runs the stated number of inputs, saves a failing input where
it says, and replays a saved input."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from raftstore.testing.fuzz import __main__ as cli
from raftstore.testing.fuzz.mutate import mutate
from raftstore.testing.fuzz.targets import TARGETS, Target

pytestmark = pytest.mark.pure_python


def test_runs_the_stated_number_of_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["frames", "--runs", "500", "--driver", "random", "--artifacts", str(tmp_path)]) == 0
    assert "frames: 500 inputs, 0 failures" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_a_failing_input_is_saved_and_replayed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def fragile(data: bytes) -> None:
        if b"\xff" in data:
            raise RuntimeError("found it")

    monkeypatch.setitem(TARGETS, "fragile", lambda: Target("fragile", fragile, lambda: [b"abc"]))
    monkeypatch.setattr(cli, "TARGETS", TARGETS)
    assert cli.main(["fragile", "--runs", "100000", "--driver", "random", "--artifacts", str(tmp_path)]) == 1
    (saved,) = tmp_path.iterdir()
    assert b"\xff" in saved.read_bytes()
    assert "FAILED after" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="found it"):
        cli.main(["fragile", "--reproduce", str(saved)])


def test_mutation_is_deterministic_per_seed() -> None:
    seeds = [b"hello world", b"\x00\x01\x02"]

    def run(seed: int) -> list[bytes]:
        rng = random.Random(seed)
        return [mutate(rng.choice(seeds), rng, seeds, 64) for _ in range(50)]

    assert run(5) == run(5) != run(6)
    assert all(len(m) <= 64 for m in run(7))


def test_a_hanging_input_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def hangs(data: bytes) -> None:
        while True:
            pass

    monkeypatch.setitem(TARGETS, "hangs", lambda: Target("hangs", hangs, lambda: [b"x"]))
    argv = ["hangs", "--runs", "5", "--driver", "random", "--timeout", "0.2", "--artifacts", str(tmp_path)]
    assert cli.main(argv) == 1
    assert len(list(tmp_path.iterdir())) == 1
