"""The stdio server (`orderpay mcp --stdio`, as desktop clients start it) acting for one token's user."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from orderpay import build_runtime
from payment_core.demo import demo_record_id
from payment_core.errors import Unauthorized
from payment_core.identity import find_demo_user
from payment_core.runtime import dev_issuer
from payment_core.settings import Settings
from mcp_server.auth import session_of_token
from tests.mcp.support import data_of, error_of

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


def token_for(data_dir: Path, username: str, **kwargs: float) -> str:
    user = find_demo_user(username)
    assert user is not None
    return dev_issuer(Settings(data_dir=data_dir)).issue(user, **kwargs)  # type: ignore[arg-type]


def server_env(data_dir: Path, token: str) -> dict[str, str]:
    return {"ORDERPAY_APP": "airbnb", "ORDERPAY_DATA_DIR": str(data_dir), "ORDERPAY_MCP_TOKEN": token,
            "ORDERPAY_LOG_LEVEL": "WARNING", "ORDERPAY_LOG_JSON": "false"}


async def test_the_stdio_server_acts_for_its_tokens_user(tmp_path: Path) -> None:
    parameters = StdioServerParameters(command=sys.executable, args=["-m", "orderpay", "mcp", "--stdio"], cwd=str(ROOT),
                                       env=server_env(tmp_path, token_for(tmp_path, "alice")))
    async with Client(parameters, mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"listReservations", "getReservation", "createReservation", "initiatePayment"} <= tools
        rows = data_of(await client.call_tool("listReservations", {}))["reservations"]
        assert len(rows) == 2 and {row["guestId"] for row in rows} == {find_demo_user("alice").user_id}  # type: ignore[union-attr]

        prepared = data_of(await client.call_tool("initiatePayment", {"orderId": rows[0]["id"]}))
        assert prepared["__frontendAction"]["payUrl"].startswith("http://127.0.0.1:8000/pay/")

        bobs = str(demo_record_id("airbnb", "reservation", 2))
        refused = await client.call_tool("getReservation", {"reservationId": bobs})
        assert error_of(refused) == "Error executing tool getReservation: Record not found"


@pytest.mark.parametrize("token, message", [
    ("", "set ORDERPAY_MCP_TOKEN"),
    ("not-a-token", "the token is refused"),
])
def test_the_stdio_server_does_not_start_without_a_valid_token(tmp_path: Path, token: str, message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "orderpay", "mcp", "--stdio"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **server_env(tmp_path, token)}, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # stdout is the protocol's: nothing else is written there


async def test_a_token_that_expires_while_serving_is_refused_on_the_next_call(tmp_path: Path) -> None:
    settings = Settings(app="airbnb", data_dir=tmp_path)
    runtime = build_runtime(settings)
    try:
        session_of = session_of_token(runtime, token_for(tmp_path, "alice", ttl_seconds=60, now=time.time() - 3600))
        with pytest.raises(Unauthorized, match="The orderpay token this server was started with is refused"):
            await session_of(None)  # type: ignore[arg-type]
        alive = session_of_token(runtime, token_for(tmp_path, "alice"))
        assert (await alive(None)).user_id == find_demo_user("alice").user_id  # type: ignore[arg-type, union-attr]
    finally:
        await runtime.close()
