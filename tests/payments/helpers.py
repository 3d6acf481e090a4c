"""What the payment-flow tests share.

A `Buyer` drives orderpay's REST API over real HTTP with their own bearer token.
The browser's side (creating a card with the publishable key, the 3-D Secure
challenge) and Stripe's side (its API, its signed webhooks) go through the
official `stripe` SDK and plain HTTP against the sandbox the server embeds.
System tables are read on the server's own event loop, through its engine.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import stripe
from sqlalchemy import select

from payment_core.spec import load_app
from tests.conftest import start_server
from tests.payments.stripe_seam import AnswerDroppingProxy
from tests.support import LiveServer

T = TypeVar("T")

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
# Saved, then declined when charged (generic_decline). Stripe declines 4000 0000 0000 0002 already when
# it is attached to a customer, as the sandbox does: 0341 is Stripe's card for a saved card that fails.
DECLINED = "4000000000000341"
INSUFFICIENT_FUNDS = "4000000000009995"
THREE_DS = "4000002760003184"  # authentication required on every payment
DISPUTED = "4000000000000259"  # succeeds, then the bank disputes the charge (Stripe's test card)
PROCESSING = "4000000000007726"  # stays `processing`, settles later (sandbox)

RETURN_URL = "https://shop.example/payment-result?step=done"

# The seeds' paymentResult of a started payment (002, "The API response will contain a paymentResult object").
PAYMENT_RESULT_KEYS = {"success", "paymentTicketId", "orderId", "paymentId", "paymentStatus", "paymentIntentInfo",
                       "statusLiteral", "amount", "currency", "description", "metadata", "paymentUserParams"}
INTENT_INFO_KEYS = {"paymentIntentId", "clientSecret", "publicKey", "status"}
# The seeds' payment error, carried inside paymentResult of a 200 answer.
PAYMENT_ERROR_KEYS = {"result", "status", "message", "errCode", "date"}
ENVELOPE_KEYS = {"status", "statusCode", "elapsedMs", "ssoTime", "source", "cacheKey", "userId", "sessionId",
                 "requestId", "dataName", "method", "action", "appVersion", "rowCount"}


@dataclass(frozen=True)
class OrderApp:
    """One bundled app's order object, as its buyer sees it."""

    app: str
    prefix: str  # /ordermanagement-api
    name: str  # order
    plural: str  # orders (lower case, as in the route)
    codename: str
    service: str
    status_field: str
    order_name: str  # stripeOrder.configuration.orderName
    body: dict[str, Any]  # a valid create body
    amount: int | float  # what paymentResult.amount shows for `body` (major units)
    currency: str
    mapped: dict[str, str]  # statusLiteral -> the order status the spec's mapPaymentResultToOrderStatus writes

    @property
    def start(self) -> str:
        return f"{self.prefix}/v1/start{self.name.lower()}payment"

    @property
    def refresh(self) -> str:
        return f"{self.prefix}/v1/refresh{self.name.lower()}payment"

    @property
    def callback(self) -> str:
        return f"{self.prefix}/v1/callback{self.name.lower()}payment"

    @property
    def records(self) -> str:
        return f"{self.prefix}/v1/{self.name.lower()}payments"

    @property
    def record_name(self) -> str:
        return f"sys_{self.name}Payment"

    def topic(self, event: str) -> str:
        return f"{self.codename}-{self.service.lower()}-service-{self.name.lower()}payment-{event}"

    def dbevent(self, event: str) -> str:
        return f"{self.codename}-{self.service.lower()}-service-dbevent-sys_{self.name.lower()}payment-{event}"


# Mapped statuses as the seeds give them (000, 001, 002, 003: mapPaymentResultToOrderStatus).
_APP_FACTS: dict[str, tuple[dict[str, Any], int | float, str, dict[str, str]]] = {
    "store": ({"totalAmount": 2500, "items": [{"sku": "MUG-01", "name": "Coffee mug", "quantity": 2, "unitPrice": 1250}],
               "deliveryAddress": "1 Main St, Springfield"}, 25, "USD",
              {"started": "pending", "canceled": "paymentError", "failed": "paymentError", "success": "paid"}),
    "ebaycclone": ({"orderNumber": "EB-T-1", "items": [], "summary": {"subtotal": 54.0, "shipping": 5.99, "total": 59.99,
                                                                     "currency": "USD"}}, 59.99, "USD",
                   {"started": "PENDING_PAYMENT", "canceled": "CANCELLED", "failed": "CANCELLED", "success": "PAID"}),
    # A new listing is `pending_review`; success maps it to `active`.
    "clonesahibinden": ({"title": "Vintage record player", "currency": "USD", "price": 9.99, "premiumType": "top"}, 9.99, "USD",
                        {"started": "pending_review", "canceled": "pending_review", "failed": "denied", "success": "active"}),
    # `approvalType === 0` is never true for the string enum, so success is always "confirmed" (docs/app-specs.md).
    "airbnb": ({"listingId": "7f0c2a64-5d55-4f86-9d5e-0c3d1f6b2a10", "checkIn": "2027-05-01T15:00:00Z",
                "checkOut": "2027-05-03T11:00:00Z", "currency": "USD", "totalPrice": 420.5, "guestCount": 2}, 420.5, "USD",
               {"started": "pending", "canceled": "cancelled", "failed": "declined", "success": "confirmed"}),
}


def order_app(app: str) -> OrderApp:
    loaded = load_app(app)
    service, obj = loaded.spec.order_objects()[0]
    body, amount, currency, mapped = _APP_FACTS[app]
    return OrderApp(app=app, prefix=service.route_prefix, name=obj.name, plural=obj.plural.lower(),
                    codename=loaded.codename.lower(), service=service.name, status_field=obj.order.orderStatusProperty,
                    order_name=obj.order.orderName, body=body, amount=amount, currency=currency, mapped=mapped)


# -- the browser's and Stripe's side ------------------------------------------------


def stripe_api(server: LiveServer, key: str | None = None) -> stripe.StripeClient:
    """The official SDK against the Stripe orderpay uses: the secret key by default (acting as the
    merchant's dashboard), or the publishable key (acting as Stripe.js in the buyer's browser)."""
    setup = server.runtime.stripe
    return stripe.StripeClient(key or setup.secret_key, base_addresses={"api": setup.api_base}, max_network_retries=0)


def new_card(server: LiveServer, number: str = VISA, *, name: str = "Test Buyer", zip_code: str = "34662") -> str:
    """What Stripe.js's createPaymentMethod gives the browser: a fresh pm_ id for a card number."""
    browser = stripe_api(server, server.runtime.stripe.publishable_key)
    method = browser.v1.payment_methods.create(params={
        "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        "billing_details": {"name": name, "address": {"postal_code": zip_code}},
    })
    return method.id


def intents_of(server: LiveServer, order_id: str) -> list[dict[str, Any]]:
    """Every PaymentIntent Stripe holds for one order (by the metadata orderpay writes)."""
    found = []
    for intent in stripe_api(server).v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        data = intent.to_dict()
        if (data.get("metadata") or {}).get("orderId") == order_id:
            found.append(data)
    return found


def succeeded_intents(server: LiveServer, order_id: str) -> list[dict[str, Any]]:
    return [intent for intent in intents_of(server, order_id) if intent["status"] == "succeeded"]


def sandbox_events(server: LiveServer, object_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """Stripe's events about one payment intent (or its charges), oldest first, as raw JSON."""
    setup = server.runtime.stripe
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    if event_type:
        params["type"] = event_type
    with httpx.Client(base_url=setup.api_base or "", headers={"Authorization": f"Bearer {setup.secret_key}"}, timeout=10) as http:
        while True:
            page = http.get("/v1/events", params=params).raise_for_status().json()
            for event in page["data"]:
                obj = event["data"]["object"]
                if object_id in (obj.get("id"), obj.get("payment_intent")):
                    events.append(event)
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
    return events[::-1]


def stripe_event(server: LiveServer, intent_id: str, event_type: str, *, timeout: float = 10) -> dict[str, Any]:
    """The event Stripe recorded for `intent_id` (waits for it: some events follow the API answer)."""
    return eventually(lambda: next(iter(sandbox_events(server, intent_id, event_type)), None), timeout=timeout,
                      message=f"Stripe never recorded {event_type} for {intent_id}")


def webhooks_settled(server: LiveServer, intent_id: str, *, timeout: float = 15) -> None:
    """Wait until Stripe has delivered every event about `intent_id` (none still pending)."""
    eventually(lambda: all(e["pending_webhooks"] == 0 for e in sandbox_events(server, intent_id)), timeout=timeout,
               message=f"webhooks about {intent_id} are still pending")


def complete_challenge(server: LiveServer, payment_result: dict[str, Any], outcome: str = "Complete") -> httpx.Response:
    """The buyer's browser after `requires_action`: Stripe.js (publishable key + client secret) fetches
    the intent's next action, the buyer opens the bank's challenge page and presses a button."""
    info = payment_result["paymentIntentInfo"]
    browser = stripe_api(server, info["publicKey"])
    intent = browser.v1.payment_intents.retrieve(info["paymentIntentId"], params={"client_secret": info["clientSecret"]})
    assert intent.status == "requires_action", intent.status
    assert intent.next_action is not None
    if intent.next_action.type == "redirect_to_url":
        url = intent.next_action.redirect_to_url.url  # type: ignore[union-attr]
    else:
        url = intent.next_action.use_stripe_sdk["stripe_js"]  # type: ignore[index]
    return press(url, outcome)


def press(page_url: str, button: str) -> httpx.Response:
    """Load a 3-D Secure challenge page and submit it with the named button, as a browser would."""
    page = httpx.get(page_url, timeout=10)
    assert page.status_code == 200, page.text
    assert f'value="{button.lower()}">{button}</button>' in page.text, page.text
    secret = re.search(r'name="client_secret" value="([^"]+)"', page.text)
    assert secret is not None
    return httpx.post(page_url.split("?")[0], data={"client_secret": secret.group(1), "frame": "", "outcome": button.lower()},
                      timeout=10)


# -- webhooks ------------------------------------------------------------------------


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's `Stripe-Signature`: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>"> keyed with the whsec_ secret."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def webhook_secret(server: LiveServer) -> str:
    return server.runtime.stripe.webhook_secrets[0]


def event_bytes(event: dict[str, Any]) -> bytes:
    """A delivery body as the test sends it (Stripe's own deliveries are indented by 2)."""
    return json.dumps(event, indent=1).encode()


def post_webhook(server: LiveServer, body: bytes, *, path: str, signature: str | None = "sign",
                 secret: str | None = None, timestamp: int | None = None) -> httpx.Response:
    """POST a delivery as Stripe does: no bearer token, the raw body, its signature (made here unless given)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if signature == "sign":
        signature = sign(body, secret or webhook_secret(server), timestamp)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        return http.post(path, content=body, headers=headers)


def fresh_event(intent: dict[str, Any], event_type: str, **intent_changes: Any) -> dict[str, Any]:
    """A new Stripe event (new id) about `intent`, in the shape of Stripe's events."""
    return {
        "id": f"evt_test_{uuid.uuid4().hex[:24]}", "object": "event", "api_version": stripe.api_version,
        "created": int(time.time()), "data": {"object": {**intent, **intent_changes}}, "livemode": False,
        "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "type": event_type,
    }


@dataclass
class HeldWebhooks:
    """Stripe's deliveries to orderpay are answered 503 on the way (Stripe retries later): a slow or
    delayed webhook. The test posts a body itself (`event_bytes`) straight to orderpay."""

    refused: list[bytes] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events Stripe tried to deliver meanwhile, oldest first."""
        return [json.loads(body) for body in self.refused]


@contextmanager
def webhooks_held(server: LiveServer) -> Iterator[HeldWebhooks]:
    """Within the block, the embedded sandbox delivers its webhooks to a proxy in front of orderpay
    that answers them 503 (the HTTP seam between Stripe and orderpay; nothing of orderpay is patched).
    Deliveries still queued for the proxy when the block ends are dropped, as Stripe drops those
    of an endpoint removed meanwhile, so none arrives in a later test."""
    config = server.sandbox
    assert config is not None, "the server does not embed the sandbox"
    proxy = AnswerDroppingProxy(server.base_url)
    proxy.start()
    endpoints = list(config.webhook_endpoints)
    paths = {urlsplit(endpoint.url).path for endpoint in endpoints}
    config.webhook_endpoints = [replace(endpoint, url=proxy.url + urlsplit(endpoint.url).path) for endpoint in endpoints]
    try:
        with proxy.unavailable("POST", *paths) as refused:
            yield HeldWebhooks(refused)
    finally:
        config.webhook_endpoints = endpoints
        proxy.stop()


# -- the server's side ---------------------------------------------------------------


def on_server(server: LiveServer, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
    """Run a coroutine on the server's event loop (its engine's connections live there)."""
    loop = server.server.servers[0].get_loop()
    return asyncio.run_coroutine_threadsafe(make(), loop).result(timeout)


def rows(server: LiveServer, table: Any, *where: Any) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with server.runtime.engine.connect() as conn:
            result = await conn.execute(select(table).where(*where))
            return [dict(row._mapping) for row in result.all()]

    return on_server(server, read)


def outbox(server: LiveServer, *where: Any) -> list[dict[str, Any]]:
    table = server.runtime.payments.outbox
    return sorted(rows(server, table, *where), key=lambda row: (row["createdAt"], str(row["id"])))


def payment_events(server: LiveServer, app: OrderApp, order_id: str) -> list[dict[str, Any]]:
    """The order's payment events (started / refreshed / calledback) in the outbox, oldest first."""
    table = server.runtime.payments.outbox
    topics = [app.topic(event) for event in ("started", "refreshed", "calledback")]
    return outbox(server, table.c.key == order_id, table.c.topic.in_(topics))


def published(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What subscribers receive of outbox rows: (topic, event id) — not the relay's bookkeeping."""
    return [(event["topic"], str(event["id"])) for event in events]


def deliveries(server: LiveServer, event_id: str) -> list[dict[str, Any]]:
    table = server.runtime.payments.deliveries
    return rows(server, table, table.c.eventId == event_id)


def eventually(check: Callable[[], T], *, timeout: float = 10, interval: float = 0.05, message: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def speed_up_sandbox(server: LiveServer) -> None:
    """Shrink the embedded sandbox's delays. Settings expose none of them, so the test sets them on the
    sandbox's config object (the running sandbox reads it on every use)."""
    config = server.sandbox
    assert config is not None, "the server does not embed the sandbox"
    config.webhook_retry_delay = 0.05
    config.processing_delay = 0.3


# -- the buyer -------------------------------------------------------------------------


class Buyer:
    """A signed-in user of one app, with their own bearer token."""

    def __init__(self, server: LiveServer, username: str, app: OrderApp) -> None:
        self.server, self.username, self.app = server, username, app
        self.http = server.client(username)
        self.user_id = server.session(username).user_id

    def close(self) -> None:
        self.http.close()

    # saved cards
    def add_card(self, payment_method_id: str) -> httpx.Response:
        return self.http.post(f"{self.app.prefix}/payment-methods/add", json={"paymentMethodId": payment_method_id})

    def save_card(self, number: str = VISA, **billing: Any) -> dict[str, Any]:
        response = self.add_card(new_card(self.server, number, **billing))
        assert response.status_code == 200, response.text
        return response.json()

    def cards(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.app.prefix}/payment-methods/list")
        assert response.status_code == 200, response.text
        return response.json()

    def delete_card(self, payment_method_id: str, method: str = "DELETE") -> httpx.Response:
        return self.http.request(method, f"{self.app.prefix}/payment-methods/delete/{payment_method_id}")

    # orders
    def create_order(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.app.prefix}/v1/{self.app.plural}", json={**self.app.body, **changes})
        assert response.status_code == 201, response.text
        return response.json()[self.app.name]

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.app.prefix}/v1/{self.app.plural}/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()[self.app.name]

    def pay(self, order_id: str, payment_method_id: str, return_url: str | None = RETURN_URL) -> httpx.Response:
        params: dict[str, Any] = {"paymentMethodId": payment_method_id}
        if return_url:
            params["return_url"] = return_url
        return self.http.patch(f"{self.app.start}/{order_id}", json={"paymentUserParams": params})

    def refresh(self, order_id: str) -> httpx.Response:
        return self.http.patch(f"{self.app.refresh}/{order_id}")

    def payment_record(self, order_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.app.prefix}/v1/{self.app.name.lower()}paymentbyorderid/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()[self.app.record_name]

    def wait_for_confirmation(self, order_id: str, value: str, timeout: float = 10) -> dict[str, Any]:
        """The result page: re-read the order until `_paymentConfirmation` reaches `value` (seed 002)."""
        return eventually(lambda: (order := self.order(order_id))["_paymentConfirmation"] == value and order,
                          timeout=timeout, message=f"the order never became {value}")


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def err(response: httpx.Response, status: int) -> dict[str, Any]:
    """The seeds' system error: HTTP 4xx/5xx with {result: "ERR", status, message, date}."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert body["result"] == "ERR" and body["status"] == status and body["message"] and body["date"], body
    return body


# -- servers -------------------------------------------------------------------------

# Card additions and payment starts per user and minute. The throttle has its own tests
# (test_throttle.py); elsewhere a module's buyers make more attempts than the default 10.
UNTHROTTLED = 100_000


def payment_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str, app: str,
                   **overrides: object) -> Iterator[LiveServer]:
    overrides.setdefault("demo_data", False)
    overrides.setdefault("payment_attempts_per_minute", UNTHROTTLED)
    for server in start_server(request, tmp_path_factory, backend, app, **overrides):
        if server.sandbox is not None:
            speed_up_sandbox(server)
        yield server
