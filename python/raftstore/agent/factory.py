"""`make_backend`: the one place that decides what runs under an agent.

`raftstore agent` and the embedding API call it with the agent's configuration once the HTTP address is bound
(`config.advertise_http` is then set). Both modes run the Raft backend (`raftstore.agent.raftbackend`): ``--dev`` a
single server in memory that elects itself at once, server mode a WAL and file snapshots under the data directory
with Raft over TCP, joining others per bootstrap-expect and retry-join. `DirectBackend` (no Raft) remains for tests
of the HTTP layer alone.
"""

from __future__ import annotations

from raftstore.agent.backend import ServerBackend
from raftstore.agent.config import AgentConfig, ConfigError
from raftstore.agent.raftbackend import start_raft_backend


async def make_backend(config: AgentConfig) -> ServerBackend:
    if not config.dev and not config.data_dir:
        raise ConfigError("server mode needs --data-dir (or run `raftstore agent --dev` for one in-memory server)")
    return await start_raft_backend(config)
