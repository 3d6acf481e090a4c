"""The chat backend-for-frontend: runs a model's tool loop against the MCP servers with the
user's own token and streams each turn to the browser as server-sent events.

- `add_chat_backend(app, runtime, chat)`: routes it into a host application; `orderpay.create_server`
  builds the whole system with it (docs/architecture.md).
"""
from bff.server import add_chat_backend

__all__ = ["add_chat_backend"]
