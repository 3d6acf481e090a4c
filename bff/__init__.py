"""The chat backend-for-frontend: runs a model's tool loop against the MCP servers with the
user's own token and streams each turn to the browser as server-sent events.

- `create_server(settings)`: the whole system in one process (REST, `/mcp`, `/api`, the web UI).
"""
from bff.server import create_server

__all__ = ["create_server"]
