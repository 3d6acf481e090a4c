"""`/api/tools`: the tools the assistant can use, called directly with the user's token, and
the health of the MCP servers behind them."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from payment_core.api.auth import bearer_token, current_session
from payment_core.errors import NotFound
from payment_core.identity import Session
from bff.mcp_client import McpManager, ToolSession


class ToolCallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: str = Field(min_length=1, max_length=200, description="The tool's name as `GET /api/tools` lists it.")
    arguments: dict[str, Any] = Field(default_factory=dict)


# Where each MCP server runs (and its errors, which name hosts) is for administrators:
# anyone else sees which servers there are and whether they answer.
_ADMIN_ONLY = ("url", "lastError")


def visible_server(session: Session, server: dict[str, Any]) -> dict[str, Any]:
    """A server's health as `session` may see it."""
    if session.is_super_admin:
        return server
    return {key: value for key, value in server.items() if key not in _ADMIN_ONLY}


def tools_router(mcp: McpManager) -> APIRouter:
    router = APIRouter(prefix="/api/tools", tags=["tools"])

    def session_of(request: Request) -> ToolSession:
        return mcp.session(bearer_token(request.headers.get("authorization")))

    def servers(session: Session) -> list[dict[str, Any]]:
        return [visible_server(session, server) for server in mcp.status()]

    @router.get("", summary="Every tool of every MCP server, as the assistant sees them")
    async def tools(request: Request, user: Session = Depends(current_session)) -> dict[str, Any]:
        async with session_of(request) as session:
            return {"tools": [tool.to_json() for tool in session.tools], "servers": servers(user)}

    @router.get("/service/{name}", summary="The tools of one MCP server")
    async def service(name: str, request: Request, user: Session = Depends(current_session)) -> dict[str, Any]:
        if name not in mcp.health:
            raise NotFound(f"No MCP server named {name!r}")
        async with session_of(request) as session:
            return {"server": visible_server(user, mcp.health[name].to_json()),
                    "tools": [tool.to_json() for tool in session.tools if tool.server == name]}

    @router.post("/call", summary="Call one tool with the caller's own token")
    async def call(body: ToolCallRequest, request: Request, _: Session = Depends(current_session)) -> dict[str, Any]:
        async with session_of(request) as session:
            if session.find(body.tool) is None:
                raise NotFound(f"No tool named {body.tool!r}")
            outcome = await session.call(body.tool, body.arguments)
        answer: dict[str, Any] = {"tool": body.tool, "success": outcome.ok, "result": outcome.ui_result}
        if outcome.error is not None:
            answer["error"] = outcome.error
        return answer

    @router.get("/status", summary="Health of each MCP server",
                description="Administrators (`superAdmin`) also see each server's URL and last error.")
    async def status(user: Session = Depends(current_session)) -> dict[str, Any]:
        return {"servers": servers(user)}

    @router.post("/refresh", summary="Contact every MCP server again now, even those waiting to be retried")
    async def refresh(request: Request, user: Session = Depends(current_session)) -> dict[str, Any]:
        mcp.force_retry()
        async with session_of(request) as session:
            return {"servers": servers(user), "toolCount": len(session.tools)}

    return router
