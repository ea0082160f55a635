"""The agent: a raftstore server process with Consul's HTTP API, its CLI, and the embedding API."""
