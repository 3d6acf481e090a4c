"""In one process the chat backend reaches orderpay's MCP server without HTTP (`mcp_server.inproc`,
wired by `orderpay.create_server`): the same tools and results as over `/mcp`, each user's own
orders only, and every request authenticated as the HTTP endpoint authenticates it, so a forged
or expired token is refused there too.

The system is built as `orderpay serve` builds it and started (its lifespan) but never served on a
port: a call that went over HTTP to the public URL would find nothing listening.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from orderpay import create_server
from bff.settings import ChatSettings
from mcp_server.inproc import UNAUTHORIZED, InProcessServer
from payment_core.identity import find_demo_user
from tests.conftest import make_settings
from tests.mcp.support import create_values, data_of, error_of, order_object, tool_names
from tests.support import untrusted_token

pytestmark = pytest.mark.anyio

APP = "store"
OBJ = order_object(APP)
LIST, GET, CREATE = tool_names(OBJ)


@pytest.fixture
async def system(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(request, backend, APP, tmp_path, demo_data=False)
    app = create_server(settings, chat=ChatSettings(chat_provider="offline"))
    async with app.router.lifespan_context(app):
        yield app


def token(app: FastAPI, username: str, **kwargs: Any) -> str:
    user = find_demo_user(username)
    assert user is not None
    return app.state.runtime.issuer.issue(user, **kwargs)


def in_process(app: FastAPI) -> InProcessServer:
    connector = app.state.chat.mcp.in_process["orderpay"]
    assert isinstance(connector, InProcessServer)
    return connector


async def test_a_user_calls_tools_without_http_and_sees_only_their_own_orders(system: FastAPI) -> None:
    mcp = system.state.chat.mcp
    alice, bob = token(system, "alice"), token(system, "bob")
    async with mcp.session(alice) as tools:
        created = await tools.call(CREATE, create_values(OBJ))
        assert created.ok, created.error
        order_id = created.model_data[OBJ.name]["id"]
        listed = await tools.call(LIST, {"pageRowCount": 100})
        assert [row["id"] for row in listed.model_data[OBJ.plural]] == [order_id]
    assert mcp.health["orderpay"].healthy is True

    async with mcp.session(bob) as tools:
        listed = await tools.call(LIST, {"pageRowCount": 100})
        assert listed.ok and listed.model_data[OBJ.plural] == []
        fetched = await tools.call(GET, {f"{OBJ.name}Id": order_id})
        assert not fetched.ok and "not found" in (fetched.error or "").lower()


async def test_results_are_the_same_as_over_the_http_endpoint(system: FastAPI) -> None:
    alice = token(system, "alice")
    refused: list[bool] = []
    async with in_process(system).client(alice, lambda: refused.append(True)) as direct:
        created = data_of(await direct.call_tool(CREATE, create_values(OBJ)))[OBJ.name]
        in_process_result = await direct.call_tool(GET, {f"{OBJ.name}Id": created["id"]})
        in_process_list = await direct.call_tool(LIST, {"pageRowCount": 100})
    # The same server's `/mcp`, over HTTP (an ASGI transport: no socket, the endpoint's whole code path).
    transport = httpx2.ASGITransport(app=system)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                  headers={"Authorization": f"Bearer {alice}"}) as http:
        async with Client(streamable_http_client("http://127.0.0.1/mcp", http_client=http)) as over_http:
            http_result = await over_http.call_tool(GET, {f"{OBJ.name}Id": created["id"]})
            http_list = await over_http.call_tool(LIST, {"pageRowCount": 100})
    assert refused == []
    assert in_process_result.model_dump() == http_result.model_dump()
    assert in_process_list.model_dump() == http_list.model_dump()


@pytest.mark.parametrize("kind", ["expired", "forged", "not a token"])
async def test_a_forged_or_expired_token_is_refused_in_process(system: FastAPI, kind: str) -> None:
    bad = {"expired": lambda: token(system, "alice", ttl_seconds=60, now=time.time() - 3600),
           "forged": untrusted_token, "not a token": lambda: "not-a-token"}[kind]()
    refused: list[bool] = []
    async with in_process(system).client(bad, lambda: refused.append(True)) as client:
        with pytest.raises(MCPError) as listing:
            await client.list_tools()
        with pytest.raises(MCPError) as creating:
            await client.call_tool(CREATE, create_values(OBJ))
    assert listing.value.code == creating.value.code == UNAUTHORIZED
    assert refused == [True, True]

    # Through the chat backend: the server is left out of that user's tools, and it is the token,
    # not the server, that is at fault: other users keep it.
    mcp = system.state.chat.mcp
    async with mcp.session(bad) as tools:
        assert tools.tools == []
    assert mcp.health["orderpay"].retry_at == 0.0 and mcp.health["orderpay"].healthy is not False
    async with mcp.session(token(system, "alice")) as tools:
        listed = await tools.call(LIST, {"pageRowCount": 100})
        assert listed.ok and listed.model_data[OBJ.plural] == []  # the refused create made nothing


async def test_a_tool_error_reads_as_over_http(system: FastAPI) -> None:
    async with in_process(system).client(token(system, "alice"), lambda: None) as client:
        result = await client.call_tool(GET, {f"{OBJ.name}Id": "00000000-0000-0000-0000-000000000000"})
    assert result.is_error and "not found" in error_of(result).lower()
