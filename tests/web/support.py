"""The whole app for the browser tests, and helpers that read orders back over REST.

`web_app(settings)` is the whole system as `orderpay serve` runs it
(`bff.server.create_server`, which includes `web.web_router`), with the offline
assistant answering.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI

import tests.support
from payment_core.settings import Settings
from payment_core.spec import DataObjectSpec, ServiceSpec
from tests.support import LiveServer


def web_app(settings: Settings | None = None) -> FastAPI:
    """What `orderpay serve` runs: REST, MCP at /mcp, the chat backend and this UI in one app."""
    from bff.server import create_server

    return create_server(settings)


@contextmanager
def web_served() -> Iterator[None]:
    """Make `LiveServer.start` serve the whole app."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tests.support, "create_app", web_app)
        yield


def order_object(server: LiveServer) -> tuple[ServiceSpec, DataObjectSpec]:
    return server.runtime.app.spec.order_objects()[0]


def read_order(server: LiveServer, order_id: str, username: str = "admin") -> dict[str, Any]:
    service, obj = order_object(server)
    with server.client(username) as client:
        answer = client.get(f"{service.route_prefix}/v1/{obj.plural.lower()}/{order_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()[obj.name]


def create_order(server: LiveServer, values: dict[str, Any], username: str = "alice") -> dict[str, Any]:
    service, obj = order_object(server)
    with server.client(username) as client:
        answer = client.post(f"{service.route_prefix}/v1/{obj.plural.lower()}", json=values)
        assert answer.status_code == 201, answer.text
        return answer.json()[obj.name]


def mapped_status(server: LiveServer, order: dict[str, Any], result: str = "success") -> Any:
    """What the spec's mapPaymentResultToOrderStatus gives `order` for `result`."""
    _, obj = order_object(server)
    script = server.runtime.app.order_scripts[obj.name].status_for_result[result]
    return script.evaluate({obj.name: order})


def pay_url(server: LiveServer, username: str, order_id: str) -> str:
    """The pay URL the MCP tool `initiatePayment` hands out, asked over the server's MCP endpoint."""
    from tests.mcp.support import data_of, mcp_client

    _, obj = order_object(server)

    async def ask() -> str:
        async with mcp_client(server, username) as client:
            result = await client.call_tool("initiatePayment", {"orderType": obj.name, "orderId": order_id})
            return data_of(result)["__frontendAction"]["payUrl"]

    # Playwright's sync API keeps an event loop running in this thread: ask from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, ask()).result()


def new_unpaid_order(server: LiveServer, username: str = "alice", **values: Any) -> dict[str, Any]:
    """A new order of `username` (the newest, so the one "the latest unpaid order" means), from
    the spec's first demo record with `values` on top."""
    _, obj = order_object(server)
    return create_order(server, {**obj.demoRecords[0].values, **values}, username)
