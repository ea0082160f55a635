"""raftstore.util.gctune: the server processes' cycle-collector settings, and RAFTSTORE_GC's overrides."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from raftstore.util import gctune

pytestmark = pytest.mark.pure_python


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_servers_freeze_the_start_up_heap_and_collect_the_old_generation_rarely() -> None:
    gc.unfreeze()
    assert gctune.tune_for_server({}) == gctune.SERVER_THRESHOLDS
    assert gc.get_threshold() == gctune.SERVER_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert gctune.SERVER_THRESHOLDS[2] >= 100 * 10  # full collections far rarer than CPython's default (10)


def test_default_keeps_cpythons_settings() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    assert gctune.tune_for_server({"RAFTSTORE_GC": "default"}) is None
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0


def test_explicit_thresholds() -> None:
    assert gctune.tune_for_server({"RAFTSTORE_GC": "5000, 10, 50"}) == (5000, 10, 50)
    assert gc.get_threshold() == (5000, 10, 50)


@pytest.mark.parametrize("bad", ["fast", "1,2", "1,2,3,4", "1,-2,3", "a,b,c"])
def test_a_bad_setting_is_refused_clearly(bad: str) -> None:
    with pytest.raises(gctune.GCSettingError, match="RAFTSTORE_GC"):
        gctune.tune_for_server({"RAFTSTORE_GC": bad})


def test_the_agent_refuses_a_bad_setting_before_starting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from raftstore.cli import main

    monkeypatch.setenv("RAFTSTORE_GC", "sometimes")
    assert main(["agent", "--dev", "--http-addr", "127.0.0.1:0"]) == 2
    assert "RAFTSTORE_GC" in capsys.readouterr().err
