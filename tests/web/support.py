"""Helpers of the browser tests: orders made and read back over REST, pay links over MCP."""
from __future__ import annotations

from typing import Any

from payment_core.spec import DataObjectSpec, ServiceSpec
from tests.support import LiveServer, run_async


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

    return run_async(ask())


def new_unpaid_order(server: LiveServer, username: str = "alice", **values: Any) -> dict[str, Any]:
    """A new order of `username` (the newest, so the one "the latest unpaid order" means), from
    the spec's first demo record with `values` on top."""
    _, obj = order_object(server)
    return create_order(server, {**obj.demoRecords[0].values, **values}, username)
