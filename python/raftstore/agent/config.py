"""The agent's configuration: command-line flags and a JSON config file, in the names Consul users know.

Precedence is Consul's: defaults, then the config file(s), then flags. Unknown config-file keys are refused (a typo
must not silently leave a security setting at its default). The token is a secret: `AgentConfig.__repr__` hides it.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftstore.agent.commands import Limits
from raftstore.util.goduration import SECOND, DurationError, parse_duration


class ConfigError(ValueError):
    """An invalid flag, config file or combination of settings; the message says which."""


@dataclass
class AgentConfig:
    dev: bool = False
    node_name: str = field(default_factory=socket.gethostname)
    datacenter: str = "dc1"
    data_dir: str | None = None
    http_addr: str = "127.0.0.1:8500"
    raft_addr: str = "127.0.0.1:8300"
    bootstrap_expect: int = 0
    retry_join: list[str] = field(default_factory=list)
    token: str | None = field(default=None, repr=False)
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    tls_verify_incoming: bool = False
    log_level: str = "info"
    kv_max_value_size: int = 512 * 1024
    txn_max_ops: int = 128
    txn_max_req_len: int = 512 * 1024
    session_ttl_min: float = 10.0
    max_query_time: float = 600.0
    default_query_time: float = 300.0
    http_max_conns_per_client: int = 200
    http_max_conns: int = 4096
    http_max_header_size: int = 16 * 1024
    http_first_byte_timeout: float = 30.0
    snapshot_max_size: int = 16 << 30
    tombstone_ttl: float = 15 * 60.0
    tombstone_granularity: float = 30.0
    advertise_http: str | None = None
    """Where other servers reach this one's HTTP API (forwarding); the bound address when unset."""

    @property
    def limits(self) -> Limits:
        return Limits(
            kv_max_value_size=self.kv_max_value_size,
            txn_max_ops=self.txn_max_ops,
            txn_max_req_len=self.txn_max_req_len,
            session_ttl_min_ns=round(self.session_ttl_min * SECOND),
        )

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    def validate(self) -> None:
        for name in ("http_addr", "raft_addr"):
            split_host_port(getattr(self, name), name)
        if self.bootstrap_expect < 0:
            raise ConfigError("bootstrap_expect must be >= 0")
        if self.dev and self.bootstrap_expect:
            raise ConfigError("bootstrap_expect cannot be used in dev mode")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("tls_cert_file and tls_key_file go together")
        if self.tls_verify_incoming and not (self.tls and self.tls_ca_file):
            raise ConfigError("tls_verify_incoming needs tls_cert_file, tls_key_file and tls_ca_file")
        if self.token is not None and not self.token:
            raise ConfigError("token must not be empty")
        for name in ("kv_max_value_size", "txn_max_ops", "txn_max_req_len", "http_max_conns_per_client"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if not 0 < self.default_query_time <= self.max_query_time:
            raise ConfigError("default_query_time must be positive and at most max_query_time")


def split_host_port(text: str, what: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` with a port in 0..65535 (0: any free port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what} must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


_DURATION_KEYS = {
    "http_first_byte_timeout",
    "session_ttl_min",
    "max_query_time",
    "default_query_time",
    "tombstone_ttl",
    "tombstone_granularity",
}
_ALIASES = {
    # Consul's config-file names for what raftstore calls differently.
    "server": None,  # raftstore agents are always servers
    "bootstrap": None,
    "ui": None,
}


def _flatten(raw: dict[str, Any]) -> dict[str, Any]:
    """Consul's nested blocks (``addresses``/``ports``, ``tls.defaults``, ``limits``, ``acl.tokens``) to flat keys."""
    flat = dict(raw)
    addresses = flat.pop("addresses", None) or {}
    ports = flat.pop("ports", None) or {}
    bind = flat.pop("client_addr", None) or addresses.get("http")
    if bind is not None or "http" in ports:
        host = bind or "127.0.0.1"
        flat.setdefault("http_addr", f"{host}:{ports.get('http', 8500)}")
    if "server" in ports or "bind_addr" in flat:
        flat.setdefault("raft_addr", f"{flat.pop('bind_addr', '127.0.0.1')}:{ports.get('server', 8300)}")
    tls = flat.pop("tls", None) or {}
    defaults = tls.get("defaults", tls) if isinstance(tls, dict) else {}
    for ours, theirs in (
        ("tls_cert_file", "cert_file"),
        ("tls_key_file", "key_file"),
        ("tls_ca_file", "ca_file"),
        ("tls_verify_incoming", "verify_incoming"),
    ):
        if theirs in defaults:
            flat.setdefault(ours, defaults[theirs])
    limits = flat.pop("limits", None) or {}
    for key in ("http_max_conns_per_client",):
        if key in limits:
            flat.setdefault(key, limits[key])
    acl = flat.pop("acl", None) or {}
    tokens = acl.get("tokens", {}) if isinstance(acl, dict) else {}
    for name in ("initial_management", "master", "agent"):
        if tokens.get(name):
            flat.setdefault("token", tokens[name])
            break
    return flat


def load_file(path: str | Path) -> dict[str, Any]:
    """One JSON config file as AgentConfig field values; ConfigError for a bad file or an unknown key."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"config file {path} is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    flat = _flatten(raw)
    known = {f.name for f in dataclasses.fields(AgentConfig)}
    values: dict[str, Any] = {}
    for key, value in flat.items():
        if key in _ALIASES:
            continue
        if key not in known:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        if key in _DURATION_KEYS and isinstance(value, str):
            try:
                value = parse_duration(value) / SECOND
            except DurationError as error:
                raise ConfigError(f"config file {path}: {key}: {error}") from None
        values[key] = value
    for f in dataclasses.fields(AgentConfig):
        if f.name in values:
            _check_type(f.name, values[f.name], str(f.type), path)
    return values


def _check_type(name: str, value: Any, annotation: str, path: str | Path) -> None:
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "str | None": value is None or isinstance(value, str),
        "list[str]": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }.get(annotation, True)
    if not ok:
        raise ConfigError(f"config file {path}: {name} must be {annotation}, got {value!r:.60}")


def build_config(file_values: list[dict[str, Any]], flag_values: dict[str, Any]) -> AgentConfig:
    """Defaults < config files (in order) < flags that were given (None means "not given")."""
    merged: dict[str, Any] = {}
    for values in file_values:
        merged.update(values)
    merged.update({k: v for k, v in flag_values.items() if v is not None})
    config = AgentConfig(**merged)
    config.validate()
    return config
