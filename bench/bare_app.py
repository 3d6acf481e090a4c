"""The baselines: bare FastAPI endpoints with none of orderpay's work.

`GET /orders/{id}` answers a fixed JSON body (read from BENCH_BODY_FILE). `POST /payment-intents`
makes the one Stripe call a start payment makes — create and confirm a PaymentIntent through the
SDK's async client against BENCH_STRIPE_API_BASE — and answers the intent: the floor under any
start-payment endpoint, with no database, auth or records.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import stripe
from fastapi import FastAPI
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
