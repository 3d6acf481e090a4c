"""The MCP server of one app spec: its order tools, the payment tools and the payment card.

Transport-free: HTTP and stdio build the same server and differ only in how
they tell who is calling (`session_of`).
"""
from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from payment_core.runtime import Runtime
from mcp_server.order_tools import order_tools
from mcp_server.payment_card import payment_card_apps
from mcp_server.payment_tools import payment_tools
from mcp_server.toolkit import SessionOf, ToolSpec, sdk_tool

INSTRUCTIONS = (
    "Tools for the signed-in user's orders in {title}: find and create orders, prepare payments and check them. "
    "You can never pay: initiatePayment returns a Pay card and link, and the money moves only when the user "
    "clicks Pay on the secure pay page. Never ask for card numbers. Each user sees only their own orders."
)


def tool_specs(runtime: Runtime) -> list[ToolSpec]:
    specs = [tool for _, obj in runtime.app.spec.order_objects() for tool in order_tools(runtime.store(obj.name))]
    return specs + payment_tools(runtime)


def build_server(runtime: Runtime, session_of: SessionOf) -> MCPServer:
    spec = runtime.app.spec
    return MCPServer(
        name=f"orderpay-{spec.codename}",
        title=f"orderpay — {spec.title or spec.codename}",
        version=spec.version,
        instructions=INSTRUCTIONS.format(title=spec.title or spec.codename),
        tools=[sdk_tool(tool, session_of) for tool in tool_specs(runtime)],
        extensions=[payment_card_apps()],
    )
