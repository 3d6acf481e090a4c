"""The edge function of the replica test's spec: posts each payment event to the test's HTTP
receiver (ORDERPAY_TEST_EDGE_RECEIVER), naming the replica that relayed it."""
from __future__ import annotations

import os
from typing import Any

import httpx


async def post_event(event: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(os.environ["ORDERPAY_TEST_EDGE_RECEIVER"], json=event,
                                   headers={"X-Relayed-By": os.environ.get("ORDERPAY_TEST_REPLICA", "")})
        answer.raise_for_status()  # a failed delivery stays in the outbox and is retried
    return {"status": 200}
