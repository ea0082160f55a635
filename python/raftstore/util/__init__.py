"""Small helpers shared by several layers (Go-compatible formats the HTTP API and the FSM both need)."""
