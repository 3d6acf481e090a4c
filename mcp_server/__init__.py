"""The MCP server over payment_core: order tools, payment tools and the payment card.

- `create_mcp_app(runtime)`: the streamable HTTP endpoint (ASGI); `route_mcp(app, mcp_app)` routes
  `/mcp` to it with its OAuth protected resource metadata; keep `mcp_app.running()` entered while serving.
- `run_stdio(runtime, token)`: the stdio server over a built runtime, acting for the token's user.
"""
from mcp_server.http import McpApp, create_mcp_app, route_mcp
from mcp_server.server import build_server
from mcp_server.stdio import run_stdio

__all__ = ["McpApp", "build_server", "create_mcp_app", "route_mcp", "run_stdio"]
