"""Structured logs: one line per event, ``key=value`` pairs after the message, values quoted when needed.

Why not JSON: operators grep and read these lines; key=value is both greppable and parseable (logfmt). Secrets
never reach a log line: the HTTP access log writes the path without its query string (a ``?token=`` would
otherwise be logged) and no header is ever logged.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any


def _value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KV:
    """A log message with fields; `str()` gives ``message key=value ...`` for any formatter, and
    `LogfmtFormatter` writes the message and the fields as separate logfmt pairs."""

    __slots__ = ("fields", "message")

    def __init__(self, message: str, fields: dict[str, Any]) -> None:
        self.message = message
        self.fields = fields

    def pairs(self) -> str:
        return " ".join(f"{key}={_value(value)}" for key, value in self.fields.items())

    def __str__(self) -> str:
        return f"{self.message} {self.pairs()}" if self.fields else self.message


def kv(message: str, **fields: Any) -> KV:
    """A log message with `fields` as key=value pairs: ``log.info(kv("listening", addr="127.0.0.1:8500"))``."""
    return KV(message, fields)


class LogfmtFormatter(logging.Formatter):
    """``ts=2026-01-01T00:00:00.123Z level=info logger=raftstore.agent msg="..." key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, KV) and not record.args:
            text, fields = record.msg.message, record.msg.pairs()
        else:
            text, fields = record.getMessage(), ""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"ts={stamp} level={record.levelname.lower()} logger={record.name} msg={_value(text)}"
        if fields:
            line += " " + fields
        if record.exc_info:
            line += " error=" + _value(self.formatException(record.exc_info))
        return line


def configure(level: str = "info") -> None:
    """Send raftstore's logs to stderr in logfmt (idempotent)."""
    root = logging.getLogger("raftstore")
    root.setLevel(level.upper())
    if not any(getattr(h, "_raftstore", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LogfmtFormatter())
        handler._raftstore = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False
