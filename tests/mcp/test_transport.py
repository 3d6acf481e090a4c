"""The streamable HTTP endpoint: bearer tokens (401), browser Origins (403), both protocol
eras of the official client, and the MCP Apps resource."""
from __future__ import annotations

import time
import uuid

import httpx
import pytest
from mcp import MCPError

from mcp_server.payment_card import PAYMENT_CARD_URI
from tests.mcp.support import data_of, error_of, mcp_client
from tests.support import LiveServer, untrusted_token

pytestmark = pytest.mark.anyio

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


def post(server: LiveServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/mcp", json=LIST_TOOLS, headers={**MCP_HEADERS, **headers}, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def resource_metadata(server: LiveServer) -> str:
    return f'resource_metadata="{server.base_url}/.well-known/oauth-protected-resource/mcp"'


@pytest.mark.parametrize("headers, error", [
    ({}, ""),
    ({"Authorization": "Basic YWxpY2U6YWxpY2UtcGFzcw=="}, ""),
    ({"Authorization": "Bearer"}, ""),
    ({"Authorization": "Bearer not-a-token"},
     'error="invalid_token", error_description="The token is not a well-formed JWT.", '),
])
def test_requests_without_a_valid_bearer_token_get_401(airbnb: LiveServer, headers: dict[str, str], error: str) -> None:
    response = post(airbnb, headers)
    assert response.status_code == 401
    # RFC 9728: the challenge says where the endpoint's authorization metadata is; an error only for a sent token.
    assert response.headers["www-authenticate"] == f"Bearer {error}{resource_metadata(airbnb)}"
    body = response.json()
    assert (body["result"], body["status"], body["errCode"]) == ("ERR", 401, "unauthorized")
    assert body["requestId"] == response.headers["x-request-id"]


def test_expired_and_foreign_tokens_get_401(airbnb: LiveServer) -> None:
    expired = airbnb.token("alice", ttl_seconds=60, now=time.time() - 3600)
    for token in (expired, untrusted_token()):
        response = post(airbnb, bearer(token))
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token", error_description="')
        assert response.headers["www-authenticate"].endswith(resource_metadata(airbnb))
    assert post(airbnb, bearer(airbnb.token("alice"))).status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1", "http://localhost.evil.example",
                                    "not an origin"])
def test_foreign_browser_origins_get_403_even_with_a_good_token(airbnb: LiveServer, origin: str) -> None:
    response = post(airbnb, {**bearer(airbnb.token("alice")), "Origin": origin})
    assert response.status_code == 403, response.text
    assert response.json()["errCode"] == "forbidden"


def test_the_servers_own_origin_is_accepted(airbnb: LiveServer) -> None:
    response = post(airbnb, {**bearer(airbnb.token("alice")), "Origin": airbnb.base_url})
    assert response.status_code == 200
    assert {tool["name"] for tool in response.json()["result"]["tools"]} >= {"listReservations", "initiatePayment"}


async def test_the_official_client_without_a_token_cannot_connect(airbnb: LiveServer) -> None:
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with mcp_client(airbnb, None) as client:
            await client.list_tools()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_both_protocol_eras_call_tools(airbnb: LiveServer, mode: str) -> None:
    """`legacy` is the initialize handshake (2025-11-25, what desktop clients speak today), `auto` the 2026 wire."""
    async with mcp_client(airbnb, "alice", mode=mode) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        rows = data_of(await client.call_tool("listReservations", {}))["reservations"]
        assert len(rows) == 2  # alice's demo reservations
        got = data_of(await client.call_tool("getReservation", {"reservationId": rows[0]["id"]}))
        assert got["reservation"]["id"] == rows[0]["id"]
        missing = await client.call_tool("getReservation", {"reservationId": str(uuid.uuid4())})
        assert error_of(missing) == "Error executing tool getReservation: Record not found"


async def test_the_payment_card_is_an_mcp_apps_resource(airbnb: LiveServer) -> None:
    async with mcp_client(airbnb, "alice") as client:
        listed = {str(resource.uri): resource for resource in (await client.list_resources()).resources}
        assert listed[PAYMENT_CARD_URI].mime_type == "text/html;profile=mcp-app"
        contents = (await client.read_resource(PAYMENT_CARD_URI)).contents
    # Its CSP: it connects to nothing and loads nothing (the pay page opens outside, through the host).
    assert contents[0].meta == {"ui": {"prefersBorder": True, "csp": {"connectDomains": [], "resourceDomains": []}}}
    assert len(contents) == 1 and contents[0].mime_type == "text/html;profile=mcp-app"
    html = contents[0].text
    for needed in ("ui/initialize", "ui/notifications/tool-result", "ui/open-link", "refreshPayment", "__frontendAction"):
        assert needed in html
    # It loads nothing from the network and never writes data as markup.
    assert "<script src" not in html and "innerHTML" not in html and "fetch(" not in html


def test_development_metadata_names_the_resource_but_no_authorization_server(airbnb: LiveServer) -> None:
    """The development identity provider is not an OAuth authorization server (no authorization
    endpoint): the metadata says so by naming none, and clients send a token from `orderpay token`."""
    metadata = httpx.get(f"{airbnb.base_url}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata == {"resource": f"{airbnb.base_url}/mcp", "bearer_methods_supported": ["header"],
                        "resource_name": "orderpay MCP server"}
    assert httpx.get(f"{airbnb.base_url}/.well-known/oauth-authorization-server").status_code == 404
