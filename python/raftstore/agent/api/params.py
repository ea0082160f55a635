"""Query-string parsing with Consul's rules: presence flags (``?recurse``, ``?stale``: any value, even empty),
unsigned integers, Go durations; every bad value is a 400 naming the parameter, never a 500."""

from __future__ import annotations

from collections.abc import Mapping

from raftstore.agent.errors import InvalidRequest
from raftstore.util.goduration import SECOND, DurationError, parse_duration

_U64 = 1 << 64


def flag(query: Mapping[str, str], name: str) -> bool:
    return name in query


def uint(query: Mapping[str, str], name: str, what: str | None = None) -> int | None:
    """The parameter as a uint64, None when absent; InvalidRequest("Invalid <what>") for anything else."""
    if name not in query:
        return None
    text = query[name]
    if not text.isascii() or not text.isdigit() or int(text) >= _U64:
        raise InvalidRequest(f"Invalid {what or name}: {text!r:.64} is not an unsigned 64-bit integer")
    return int(text)


def duration(query: Mapping[str, str], name: str, what: str) -> float | None:
    """A Go duration parameter (``10s``, ``1m30s``) in seconds, None when absent."""
    if name not in query:
        return None
    try:
        ns = parse_duration(query[name])
    except DurationError:
        raise InvalidRequest(f"Invalid {what}") from None
    if ns < 0:
        raise InvalidRequest(f"Invalid {what}")
    return ns / SECOND


def string(query: Mapping[str, str], name: str, default: str = "") -> str:
    return query.get(name, default)


def node_meta_filters(query: Mapping[str, str] | object) -> dict[str, str]:
    """``?node-meta=key:value`` (repeatable) as a dict; every pair must match."""
    getall = getattr(query, "getall", None)
    values = getall("node-meta", []) if getall is not None else []
    filters: dict[str, str] = {}
    for value in values:
        key, sep, wanted = value.partition(":")
        if not sep or not key:
            raise InvalidRequest(f"Invalid node-meta filter {value!r:.64}: must be key:value")
        filters[key] = wanted
    return filters


def tags(query: object) -> list[str]:
    getall = getattr(query, "getall", None)
    return list(getall("tag", [])) if getall is not None else []
