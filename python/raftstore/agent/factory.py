"""`make_backend`: the one place that decides what runs under an agent.

`raftstore agent` and the embedding API call it with the agent's configuration once the HTTP address is bound
(`config.advertise_http` is then set). Dev mode runs a `DirectBackend`; server mode (data dir, Raft address,
bootstrap-expect, retry-join) needs the Raft runtime and raises `ConfigError` until `RaftBackend` is wired here.
"""

from __future__ import annotations

from raftstore.agent.backend import ServerBackend
from raftstore.agent.config import AgentConfig, ConfigError
from raftstore.agent.direct import DirectBackend


async def make_backend(config: AgentConfig) -> ServerBackend:
    if config.dev:
        return DirectBackend(node_name=config.node_name, datacenter=config.datacenter, raft_address=config.raft_addr)
    raise ConfigError(
        "server mode (--data-dir, --bootstrap-expect, --retry-join) needs the Raft runtime, which is not available "
        "yet in this build; run `raftstore agent --dev` for a single in-memory server"
    )
