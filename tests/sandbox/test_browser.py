"""The sandbox's Stripe.js in Chromium: card element typed by keyboard, createPaymentMethod, 3-D Secure modal.

The shop page comes from another origin than the sandbox, as a real shop page does from api.stripe.com,
so CORS is exercised too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from .conftest import SandboxServer


SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script src="{sandbox}/js/v3/"></script></head>
<body>
  <form id="payment-form">
    <div id="card-element"></div>
    <div id="card-errors" role="alert"></div>
    <button id="pay" type="submit">Pay</button>
  </form>
  <script>
    const stripe = Stripe("{pk}");
    const elements = stripe.elements();
    const card = elements.create("card", {{style: {{base: {{fontSize: "16px", color: "#32325d"}}, invalid: {{color: "#fa755a"}}}}}});
    card.mount("#card-element");
    window.changes = [];
    card.on("change", (event) => {{
      window.changes.push(event);
      document.getElementById("card-errors").textContent = event.error ? event.error.message : "";
    }});
    window.shop = {{stripe, elements, card}};
  </script>
</body></html>
"""


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    return chromium  # the suite's shared Chromium (tests/conftest.py): required in CI, skipped elsewhere without it


@pytest.fixture
def shop_url(sandbox: SandboxServer) -> Iterator[str]:
    """A shop page on its own origin that loads the sandbox's Stripe.js; the sandbox is told to allow
    that origin, as `orderpay sandbox --allowed-origin` is."""
    page = SHOP_PAGE.format(sandbox=sandbox.url, pk=sandbox.publishable_key).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    sandbox.config.allowed_origins.append(origin)
    yield f"{origin}/shop"
    sandbox.config.allowed_origins.remove(origin)
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser: Any, shop_url: str) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(shop_url)
    page.wait_for_function("window.shop !== undefined")
    yield page
    context.close()


def type_card(page: Any, number: str, expiry: str = "12 / 34", cvc: str = "123") -> None:
    """Fill the card element with the keyboard only, as a buyer would."""
    page.get_by_label("Card number").click()
    for field, keys in (("number", number), ("expiry", expiry.replace(" / ", "")), ("cvc", cvc)):
        # The card element moves on by itself once a field is complete; otherwise Tab, as a buyer would.
        if page.evaluate("document.activeElement.dataset.field") != field:
            page.keyboard.press("Tab")
        page.keyboard.type(keys)


def create_payment_method(page: Any) -> dict[str, Any]:
    return page.evaluate(
        "() => shop.stripe.createPaymentMethod({type: 'card', card: shop.card, billing_details: {name: 'Jenny Rosen'}})"
    )


def challenge(page: Any, button: str) -> None:
    frame = page.frame_locator("iframe[title='3D Secure authentication']")
    frame.get_by_role("button", name=button).click()


def test_card_element_is_labelled_and_reports_changes(page: Any) -> None:
    for label in ("Card number", "Expiration date (MM / YY)", "Security code (CVC)"):
        assert page.get_by_label(label).count() == 1
    type_card(page, "4242424242424242")
    assert page.get_by_label("Card number").input_value() == "4242 4242 4242 4242"
    assert page.get_by_label("Expiration date (MM / YY)").input_value() == "12 / 34"
    last = page.evaluate("window.changes[window.changes.length - 1]")
    assert (last["elementType"], last["brand"], last["complete"], last["empty"]) == ("card", "visa", True, False)
    assert last.get("error") is None
    page.evaluate("shop.card.clear()")
    page.get_by_label("Card number").click()
    page.keyboard.type("4242424242424241")
    last = page.evaluate("window.changes[window.changes.length - 1]")
    assert last["error"]["code"] == "invalid_number" and last["complete"] is False
    assert page.get_by_role("alert").inner_text() == "Your card number is invalid."
    assert page.get_by_label("Card number").get_attribute("aria-invalid") == "true"
    result = create_payment_method(page)
    assert result["error"]["type"] == "validation_error"


def test_amex_brand_and_four_digit_cvc(page: Any) -> None:
    type_card(page, "378282246310005", cvc="1234")
    assert page.get_by_label("Card number").input_value() == "3782 822463 10005"
    last = page.evaluate("window.changes[window.changes.length - 1]")
    assert (last["brand"], last["complete"]) == ("amex", True)
    result = create_payment_method(page)
    method = result["paymentMethod"]
    assert method["card"]["brand"] == "amex" and method["card"]["last4"] == "0005"
    assert method["billing_details"]["name"] == "Jenny Rosen"


def test_server_side_3ds_intent_completed_in_modal(page: Any, client: stripe.StripeClient) -> None:
    type_card(page, "4000002760003184")
    method = create_payment_method(page)["paymentMethod"]
    assert method["id"].startswith("pm_") and method["card"]["last4"] == "3184"
    intent = client.v1.payment_intents.create(
        params={"amount": 3000, "currency": "usd", "payment_method": method["id"], "confirm": True,
                "payment_method_types": ["card"]}
    )  # fmt: skip
    assert intent.status == "requires_action"
    page.evaluate("(secret) => { window.outcome = shop.stripe.handleNextAction({clientSecret: secret}); }", intent.client_secret)
    page.get_by_role("dialog", name="3D Secure authentication").wait_for(state="visible")
    challenge(page, "Complete")
    result = page.evaluate("window.outcome")
    assert result["paymentIntent"]["status"] == "succeeded"
    assert "metadata" not in result["paymentIntent"]
    assert page.get_by_role("dialog").count() == 0
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_server_side_3ds_intent_failed_in_modal(page: Any, client: stripe.StripeClient) -> None:
    type_card(page, "4000002500003155")
    method = create_payment_method(page)["paymentMethod"]
    intent = client.v1.payment_intents.create(
        params={"amount": 3000, "currency": "usd", "payment_method": method["id"], "confirm": True,
                "payment_method_types": ["card"]}
    )  # fmt: skip
    page.evaluate("(secret) => { window.outcome = shop.stripe.handleNextAction({clientSecret: secret}); }", intent.client_secret)
    challenge(page, "Fail")
    result = page.evaluate("window.outcome")
    assert result["error"]["code"] == "payment_intent_authentication_failure"
    assert result["error"]["payment_intent"]["status"] == "requires_payment_method"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_confirm_card_payment_from_the_browser(page: Any, client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 1800, "currency": "usd", "payment_method_types": ["card"]})
    type_card(page, "4000008260003178")
    page.evaluate(
        "(secret) => { window.outcome = shop.stripe.confirmCardPayment(secret, {payment_method: {card: shop.card}}); }",
        intent.client_secret,
    )
    challenge(page, "Complete")
    result = page.evaluate("window.outcome")
    # Authenticated, then declined for insufficient funds, as Stripe's 4000008260003178 is.
    assert (result["error"]["code"], result["error"]["decline_code"]) == ("card_declined", "insufficient_funds")
    page.evaluate("shop.card.clear()")
    type_card(page, "4242424242424242")
    result = page.evaluate("(secret) => shop.stripe.confirmCardPayment(secret, {payment_method: {card: shop.card}})", intent.client_secret)
    assert result["paymentIntent"]["status"] == "succeeded"
    fetched = page.evaluate("(secret) => shop.stripe.retrievePaymentIntent(secret)", intent.client_secret)
    assert fetched["paymentIntent"]["id"] == intent.id and fetched["paymentIntent"]["status"] == "succeeded"


def test_declined_card_in_the_browser(page: Any, client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 1800, "currency": "usd", "payment_method_types": ["card"]})
    type_card(page, "4000000000000002")
    result = page.evaluate("(secret) => shop.stripe.confirmCardPayment(secret, {payment_method: {card: shop.card}})", intent.client_secret)
    assert result["error"]["type"] == "card_error"
    assert (result["error"]["code"], result["error"]["decline_code"]) == ("card_declined", "generic_decline")
    assert result["error"]["payment_intent"]["id"] == intent.id


def test_split_elements(browser: Any, shop_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(shop_url)
    page.wait_for_function("window.shop !== undefined")
    page.evaluate(
        """() => {
          shop.card.destroy();
          const host = document.getElementById('card-element');
          for (const type of ['cardNumber', 'cardExpiry', 'cardCvc']) {
            const slot = document.createElement('div'); slot.id = type; host.appendChild(slot);
            shop.elements.create(type).mount('#' + type);
          }
        }"""
    )
    type_card(page, "5555555555554444")
    result = page.evaluate(
        "() => shop.stripe.createPaymentMethod({type: 'card', card: shop.elements.getElement('cardNumber')})"
    )
    assert result["paymentMethod"]["card"]["brand"] == "mastercard"
    context.close()
