"""The checker on the 50 labelled Jepsen etcd histories (Porcupine's test data), and the Jepsen log reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raftstore.testing.history import HistoryError
from raftstore.testing.jepsen import KEY, load_jepsen_etcd, parse_jepsen_etcd
from raftstore.testing.linearizability import check_kv, main

pytestmark = pytest.mark.pure_python

# Porcupine's labelled Jepsen histories (MIT licence, see the directory's LICENSE.md and README.md), kept with the tests
# so that a clean checkout runs them.
DATA = Path(__file__).resolve().parent / "data" / "porcupine-jepsen"
VERDICTS: dict[str, bool] = json.loads((DATA / "verdicts.json").read_text())


def test_the_data_set_is_complete() -> None:
    assert len(VERDICTS) == 50, f"expected 50 labelled histories in {DATA}"


@pytest.mark.parametrize("number", sorted(VERDICTS))
def test_jepsen_verdict(number: str) -> None:
    history = load_jepsen_etcd(DATA / f"etcd_{number}.log")
    result = check_kv(history, timeout=10.0)
    assert not result.timed_out, f"etcd_{number} took more than 10 s"
    assert bool(result) == VERDICTS[number], result.explanation


def test_reader_semantics() -> None:
    log = "\n".join(
        [
            "INFO  jepsen.util - 0\t:invoke\t:write\t1",
            "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]",
            "INFO  jepsen.util - 0\t:ok\t:write\t1",
            "INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]",
            "INFO  jepsen.util - 2\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 2\t:fail\t:read\t:timed-out",
            "INFO  jepsen.util - 3\t:invoke\t:write\t4",
            "INFO  jepsen.util - 3\t:info\t:write\t4",
            "INFO  jepsen.util - 4\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 4\t:ok\t:read\tnil",
            "INFO  jepsen.util - 5\t:invoke\t:cas\t[4 0]",
        ]
    )
    ops = parse_jepsen_etcd(log)
    summary = [(o.client, o.op, o.input, o.output, o.status) for o in ops]
    assert summary == [
        (0, "put", 1, None, "ok"),
        (1, "cas", (1, 2), False, "ok"),
        (2, "get", None, None, "fail"),
        (3, "put", 4, None, "unknown"),
        (4, "get", None, None, "ok"),
        (5, "cas", (4, 0), None, "unknown"),
    ]
    assert all(o.key == KEY for o in ops)
    # The failed cas saw 1 (written before it was invoked? no: concurrently), and the read of nil after the write of 1
    # completed is a stale read.
    assert not check_kv(ops)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "not a Jepsen etcd log line"),
        ("INFO  jepsen.util - 0\t:ok\t:read\t1", "never invoked"),
        (
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:read\tnil",
            "previous operation",
        ),
        ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t1", "completes :write"),
        ("INFO  jepsen.util - 0\t:invoke\t:cas\t5", "cas needs"),
        ("INFO  jepsen.util - 0\t:invoke\t:write\t{1}", "cannot parse value"),
    ],
)
def test_reader_rejects_malformed_logs(text: str, message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        parse_jepsen_etcd(text)


def test_command_line_jepsen_format(capsys: pytest.CaptureFixture[str]) -> None:
    linearizable = next(number for number, verdict in sorted(VERDICTS.items()) if verdict)
    violating = next(number for number, verdict in sorted(VERDICTS.items()) if not verdict)
    assert main([str(DATA / f"etcd_{linearizable}.log"), "--format", "jepsen-etcd"]) == 0
    assert main([str(DATA / f"etcd_{violating}.log"), "--format", "jepsen-etcd"]) == 1
    assert f"key '{KEY}'" in capsys.readouterr().out
