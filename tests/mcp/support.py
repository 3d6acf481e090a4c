"""An MCP client for tests, and what the MCP tests share. The servers they talk to are the
production composition (`orderpay.create_server`), `/mcp` and its settings included: over
streamable HTTP for a `LiveServer`, in memory (`mcp_server.inproc`, as the chat backend reaches
it) for a `RunningApp`."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, DiscoverResult

from mcp_server.inproc import InProcessServer
from payment_core.spec import DataObjectSpec, load_app
from tests.support import LiveServer, RunningApp


@asynccontextmanager
async def mcp_client(server: LiveServer | RunningApp, username: str | None, *, mode: str = "auto",
                     headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """The official MCP client acting for `username`'s bearer token: on a live server's `/mcp`, or
    in memory on a running app's MCP server, each request authenticated as `/mcp` does it."""
    if isinstance(server, RunningApp):
        assert username is not None and headers is None and mode == "auto", "for HTTP's options, use a LiveServer"
        # A refused token fails the call itself (an MCPError), as a 401 does over HTTP.
        async with InProcessServer(server.app.state.mcp).client(server.token(username), on_refused=lambda: None) as client:
            # Asked of the server, as mode="auto" does over HTTP (in-process clients assume them).
            client.session.adopt(DiscoverResult.model_validate(await client.session.send_discover(client.protocol_version)))
            yield client
        return
    sent = dict(headers or {})
    if username is not None:
        sent["Authorization"] = f"Bearer {server.token(username)}"
    async with httpx2.AsyncClient(headers=sent, timeout=30) as http:
        async with Client(streamable_http_client(f"{server.base_url}/mcp", http_client=http), mode=mode) as client:
            yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def data_of(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful call, checked against its JSON text twin."""
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    assert json.loads(result.content[-1].text) == result.structured_content
    return result.structured_content


def error_of(result: CallToolResult) -> str:
    """The message of a failed call, checked to be a plain message (no traceback, no internals)."""
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    text = text_of(result)
    for leak in ("Traceback", 'File "', "sqlalchemy", "pydantic", "errors.pydantic.dev", "SELECT "):
        assert leak not in text, text
    return text


def order_object(app_name: str) -> DataObjectSpec:
    return load_app(app_name).spec.order_objects()[0][1]


def tool_names(obj: DataObjectSpec) -> tuple[str, str, str]:
    """The list, get and create tools of an order object, spelled independently of mcp_server."""
    return (f"list{obj.plural[0].upper()}{obj.plural[1:]}", f"get{obj.name[0].upper()}{obj.name[1:]}",
            f"create{obj.name[0].upper()}{obj.name[1:]}")


def create_values(obj: DataObjectSpec, index: int = 0) -> dict[str, Any]:
    """The values of the spec's `index`th demo record: a valid create body."""
    return dict(obj.demoRecords[index].values)


def pay_in_the_trusted_ui(server: LiveServer, app_name: str, order_id: str,
                          quote: dict[str, Any] | None = None) -> None:
    """What the buyer's own click does: save a card and start the payment over REST (with the
    card's quote when given, as the chat's payment card sends it)."""
    service, obj = load_app(app_name).spec.order_objects()[0]
    prefix = service.route_prefix
    with server.client("alice") as alice:
        card = alice.post(f"{prefix}/payment-methods/add", json={"paymentMethodId": "pm_card_visa"})
        assert card.status_code == 200, card.text
        params: dict[str, Any] = {"paymentMethodId": card.json()["paymentMethodId"]}
        if quote is not None:
            params["quote"] = quote
        paid = alice.patch(f"{prefix}/v1/start{obj.name.lower()}payment/{order_id}", json={"paymentUserParams": params})
        assert paid.status_code == 200 and paid.json()[obj.name]["_paymentConfirmation"] == "paid", paid.text
