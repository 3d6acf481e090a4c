"""A remote MCP client finds out how to authorize (MCP authorization, RFC 9728 and RFC 8707).

orderpay trusts a real OpenID provider started on loopback (tests/oidc, the npm `oidc-provider`),
and the official MCP TypeScript SDK client (tests/mcp/oauth_client) starts with nothing but the
MCP URL: it gets a 401, reads the protected resource metadata, discovers the provider, registers,
signs a buyer in, gets a token for the MCP resource and calls tools as that buyer.
"""
from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderpay import create_server
from payment_core.settings import Settings
from tests.oidc_support import Account, OidcProvider, npm_ci, start_oidc_provider
from tests.support import LiveServer, free_port

CLIENT_DIR = Path(__file__).parent / "oauth_client"
ADA = Account(email="ada@example.com", name="Ada Lovelace", password="ada-pass")
MACHINE = str(uuid.uuid4())  # a client_credentials client acting as a user of its own


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    with start_oidc_provider(accounts=[ADA], registration=True, clients=[{
        "client_id": MACHINE, "client_secret": "machine-secret-machine-secret", "grant_types": ["client_credentials"],
        "redirect_uris": [], "response_types": [],
    }]) as provider:
        yield provider


@pytest.fixture(scope="module")
def server(idp: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    port = free_port()
    settings = Settings(app="store", data_dir=tmp_path_factory.mktemp("oauth"), port=port, log_json=False,
                        auth_issuer=idp.issuer, auth_jwks_url=idp.jwks_url, auth_audience="orderpay",
                        pay_link_secret="p" * 32, demo_data=False, mcp_scopes=["orderpay"])
    live = LiveServer.start(settings, factory=create_server)
    yield live
    live.stop()


def run_client(config: dict[str, Any]) -> dict[str, Any]:
    npm_ci(CLIENT_DIR)
    done = subprocess.run(["node", str(CLIENT_DIR / "client.mjs"), json.dumps(config)], cwd=CLIENT_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_protected_resource_metadata_names_the_mcp_url_and_the_issuer(server: LiveServer, idp: OidcProvider) -> None:
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        response = httpx.get(server.base_url + path)
        assert response.status_code == 200, path
        assert response.json() == {"resource": f"{server.base_url}/mcp", "authorization_servers": [idp.issuer],
                                   "bearer_methods_supported": ["header"], "resource_name": "orderpay MCP server",
                                   "scopes_supported": ["orderpay"]}
        assert response.headers["access-control-allow-origin"] == "*"  # browser clients read it cross-origin
    # The issuer it names serves its authorization server metadata, as clients will look for it.
    assert httpx.get(f"{idp.issuer}/.well-known/oauth-authorization-server").json()["issuer"] == idp.issuer


def test_a_401_points_at_the_metadata(server: LiveServer) -> None:
    response = httpx.post(f"{server.base_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                          headers={"Accept": "application/json, text/event-stream"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{server.base_url}/.well-known/oauth-protected-resource/mcp", scope="orderpay"')


def test_an_mcp_client_signs_a_buyer_in_and_calls_tools_as_that_buyer(server: LiveServer) -> None:
    seen = run_client({"mcpUrl": f"{server.base_url}/mcp", "mode": "authorization_code",
                       "login": ADA.email, "password": ADA.password,
                       "calls": [["createOrder", {"totalAmount": 1234, "deliveryAddress": "12 Analytical Way"}],
                                 ["listOrders", {}]]})
    # It found the provider through the metadata, registered itself and asked for the MCP resource.
    assert seen["registeredClient"] is True
    assert f"resource={server.base_url}/mcp".replace(":", "%3A").replace("/", "%2F") in seen["authorizationUrl"]
    assert seen["claims"]["aud"] == f"{server.base_url}/mcp"
    assert seen["claims"]["sub"] == ADA.sub and seen["claims"]["email"] == ADA.email
    assert {"listOrders", "createOrder", "initiatePayment"} <= set(seen["tools"])

    created, listed = seen["results"]
    assert not created["isError"], created["text"]
    order = created["structuredContent"]["order"]
    assert (order["buyerId"], order["totalAmount"]) == (ADA.sub, 1234)
    assert [o["id"] for o in listed["structuredContent"]["orders"]] == [order["id"]]


def test_a_machine_client_with_client_credentials_calls_a_tool(server: LiveServer) -> None:
    seen = run_client({"mcpUrl": f"{server.base_url}/mcp", "mode": "client_credentials", "clientId": MACHINE,
                       "clientSecret": "machine-secret-machine-secret", "calls": [["listOrders", {}]]})
    assert seen["claims"]["sub"] == MACHINE and seen["claims"]["aud"] == f"{server.base_url}/mcp"
    assert seen["results"][0]["structuredContent"]["orders"] == []  # it has none: it sees only its own


def test_a_token_for_another_resource_is_refused_at_mcp(server: LiveServer, idp: OidcProvider) -> None:
    """RFC 8707: a token the issuer made for another API must not work here, however valid."""
    other = idp.client_credentials_token(MACHINE, "machine-secret-machine-secret", resource="https://other.example/api")
    response = httpx.post(f"{server.base_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                          headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {other}"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="The token was issued for a different audience."')
    assert challenge.endswith(f'resource_metadata="{server.base_url}/.well-known/oauth-protected-resource/mcp", scope="orderpay"')


def test_the_mcp_resource_token_is_not_a_rest_api_token(server: LiveServer, idp: OidcProvider) -> None:
    """The REST API accepts its own audience (ORDERPAY_AUTH_AUDIENCE) only; /mcp accepts both."""
    for_mcp = idp.client_credentials_token(MACHINE, "machine-secret-machine-secret", resource=f"{server.base_url}/mcp")
    rest = httpx.get(f"{server.base_url}/ordermanagement-api/v1/orders", headers={"Authorization": f"Bearer {for_mcp}"})
    assert rest.status_code == 401
    assert rest.json()["result"] == "ERR"
