"""The baselines: bare FastAPI endpoints with none of orderpay's work.

`GET /orders/{id}` answers a fixed JSON body (read from BENCH_BODY_FILE). `POST /payment-intents`
makes the one Stripe call a start payment makes — create and confirm a PaymentIntent through the
SDK's async client against BENCH_STRIPE_API_BASE — and answers the intent: the floor under any
start-payment endpoint, with no database, auth or records. `POST /stripe-webhook` verifies the
Stripe signature with the SDK (secret BENCH_WEBHOOK_SECRET) and inserts the delivery into a SQLite
table (BENCH_WEBHOOK_DB; WAL, synchronous NORMAL, as orderpay's), a duplicate event id inserting
nothing: the floor under any webhook endpoint that keeps its deliveries.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import aiosqlite
import stripe
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
BODY = json.loads(Path(os.environ["BENCH_BODY_FILE"]).read_text()) if "BENCH_BODY_FILE" in os.environ else {}
STRIPE = stripe.StripeClient(
    # The sandbox's key, from bench/start_payment.py (bench/rest_orders.py calls no Stripe endpoint).
    os.environ.get("BENCH_STRIPE_SECRET_KEY", "sk_test_unset"),
    base_addresses={"api": os.environ["BENCH_STRIPE_API_BASE"]} if "BENCH_STRIPE_API_BASE" in os.environ else None,
    http_client=stripe.HTTPXClient(), max_network_retries=1,
)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/orders/{order_id}")
async def get_order(order_id: str) -> JSONResponse:
    return JSONResponse(BODY)


@app.post("/payment-intents")
async def create_payment_intent(params: dict[str, Any]) -> JSONResponse:
    intent = await STRIPE.v1.payment_intents.create_async({**params, "confirm": True},
                                                         {"idempotency_key": str(uuid.uuid4())})
    return JSONResponse(intent.to_dict())


_deliveries: aiosqlite.Connection | None = None
_opening = asyncio.Lock()


async def deliveries() -> aiosqlite.Connection:
    """The one connection, opened by the first delivery. Under a lock: the first round's deliveries
    arrive together, and each opening a connection of its own to switch the file to WAL collided
    ("database is locked"; the bench then failed now and then on its first batch)."""
    global _deliveries
    if _deliveries is None:
        async with _opening:
            if _deliveries is None:
                _deliveries = await _open_deliveries()
    return _deliveries


async def _open_deliveries() -> aiosqlite.Connection:
    connection = await aiosqlite.connect(os.environ["BENCH_WEBHOOK_DB"])
    await connection.execute("PRAGMA journal_mode=WAL")
    await connection.execute("PRAGMA synchronous=NORMAL")
    await connection.execute("CREATE TABLE IF NOT EXISTS delivery (id TEXT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
                             "type TEXT NOT NULL, payload TEXT NOT NULL, received_at REAL NOT NULL)")
    await connection.commit()
    return connection


@app.post("/stripe-webhook")
async def stripe_webhook(request: Request) -> JSONResponse:
    payload = (await request.body()).decode()
    try:
        stripe.WebhookSignature.verify_header(payload, request.headers.get("stripe-signature", ""),
                                              os.environ["BENCH_WEBHOOK_SECRET"], 300)
    except stripe.SignatureVerificationError:
        return JSONResponse({"status": "ERR"}, 400)
    event = json.loads(payload)
    db = await deliveries()
    cursor = await db.execute("INSERT INTO delivery VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                              (str(uuid.uuid4()), event["id"], event["type"], payload, time.time()))
    await db.commit()
    return JSONResponse({"status": "OK", "eventId": event["id"], "result": "stored" if cursor.rowcount else "duplicate"})
