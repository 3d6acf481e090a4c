"""The MCP Apps payment card in Chromium, inside a sandboxed iframe of a page that plays the host:
it renders a real initiatePayment result (as text, even a hostile listing title), opens the pay
link through `ui/open-link` and asks the status through `tools/call refreshPayment` (its app-only tool)."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from orderpay import create_server
from tests.conftest import CHROMIUM, start_server
from tests.mcp.support import data_of, mcp_client, pay_in_the_trusted_ui
from tests.support import LiveServer, run_async, unavailable
from mcp_server.payment_card import PAYMENT_CARD_URI

HOSTILE_TITLE = '<img src=x onerror="window.parent.pwned=1">Bike'

# The host side of the MCP Apps bridge: answers the card's requests with canned MCP results and
# records everything the card sends.
HOST_PAGE = """<!doctype html><html><body>
<iframe id="card" sandbox="allow-scripts" style="width:480px;height:320px"></iframe>
<script>
  window.sent = [];
  const frame = document.getElementById("card");
  const reply = (id, result) => frame.contentWindow.postMessage({jsonrpc: "2.0", id, result}, "*");
  window.addEventListener("message", (event) => {
    if (event.source !== frame.contentWindow) return;
    const message = event.data;
    window.sent.push(message);
    if (message.method === "ui/initialize") reply(message.id, {protocolVersion: "2026-01-26", hostInfo: {name: "test-host", version: "1"}, hostCapabilities: {openLinks: {}, serverTools: {}}, hostContext: {}});
    if (message.method === "ui/notifications/initialized") frame.contentWindow.postMessage({jsonrpc: "2.0", method: "ui/notifications/tool-result", params: window.toolResult}, "*");
    if (message.method === "ui/open-link") reply(message.id, {});
    if (message.method === "tools/call") reply(message.id, window.statusResult);
  });
</script></body></html>"""


@pytest.fixture(scope="module")
def listings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(request, tmp_path_factory, "sqlite", "clonesahibinden", factory=create_server)


async def prepare(server: LiveServer) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The card's HTML, a real initiatePayment result and, after the buyer paid, a real status result."""
    async with mcp_client(server, "alice") as alice:
        html = (await alice.read_resource(PAYMENT_CARD_URI)).contents[0].text
        listing = data_of(await alice.call_tool("createListing", {"title": HOSTILE_TITLE, "currency": "EUR", "price": 12.5}))
        reference = {"orderType": "listing", "orderId": listing["listing"]["id"]}
        prepared = await alice.call_tool("initiatePayment", reference)
    await anyio.to_thread.run_sync(pay_in_the_trusted_ui, server, "clonesahibinden", reference["orderId"])
    async with mcp_client(server, "alice") as alice:
        status = await alice.call_tool("refreshPayment", reference)
    dump = {"by_alias": True, "mode": "json", "exclude_none": True}
    return html, prepared.model_dump(**dump), status.model_dump(**dump)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A Chromium of this test's own, closed with it: the MCP tests after it run their own event loops
    in this thread, which the suite's shared Playwright session would hold."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                             "--disable-background-networking"])
        yield launched
        launched.close()


def test_the_card_shows_the_payment_opens_the_pay_page_and_reports_the_status(listings: LiveServer,
                                                                               browser: Browser) -> None:
    html, prepared, status = run_async(prepare(listings))
    action = prepared["structuredContent"]["__frontendAction"]
    page = browser.new_page()
    try:
        page.set_content(HOST_PAGE)
        page.evaluate(f"window.toolResult = {json.dumps(prepared)}; window.statusResult = {json.dumps(status)};")
        page.evaluate("html => { document.getElementById('card').srcdoc = html; }", html)
        card = page.frame_locator("#card")

        expect(card.locator("#amount")).to_contain_text("12.50")
        # The buyer reads the spec's display summary, not the Stripe description, and hostile text in it
        # is shown as text.
        expect(card.locator("#description")).to_have_text(action["summary"])
        assert action["summary"] == f"Premium upgrade: {HOSTILE_TITLE}"
        assert card.locator("img").count() == 0 and page.evaluate("window.pwned") is None

        card.locator("#pay").click()
        expect(card.locator("#status")).to_contain_text("Complete the payment")
        opened = [m for m in page.evaluate("window.sent") if m.get("method") == "ui/open-link"]
        assert [m["params"] for m in opened] == [{"url": action["payUrl"]}]

        card.locator("#check").click()
        expect(card.locator("#status")).to_have_text("Paid. Thank you!")
        expect(card.locator("#pay")).to_be_hidden()
        calls = [m["params"] for m in page.evaluate("window.sent") if m.get("method") == "tools/call"]
        assert calls[0] == {"name": "refreshPayment",
                            "arguments": {"orderType": "listing", "orderId": action["orderId"]}}
    finally:
        page.close()
