"""The MCP Apps payment card that `initiatePayment` declares (`_meta.ui.resourceUri`).

Hosts that support MCP Apps render it in a sandboxed iframe and hand it the tool
result. Stripe.js cannot run in such an iframe, so the card does not take
payments itself: its Pay button opens the hosted pay page (`payUrl`) through the
host (`ui/open-link`), and its status line asks the server through the host
(`tools/call refreshPayment`, a tool visible to the card only). It loads nothing
from the network (its CSP declares no domains) and writes data into the page as
text only. Hosts without Apps show the tool's text, which
carries the same link.
"""
from __future__ import annotations

from mcp.server.apps import Apps, ResourceCsp

PAYMENT_CARD_URI = "ui://orderpay/payment-card.html"

PAYMENT_CARD_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment</title>
<style>
  :root { color-scheme: light dark; }
  body { margin: 0; font-family: var(--font-sans, system-ui, sans-serif);
         color: var(--color-text-primary, #1f2328); background: var(--color-background-primary, transparent); }
  .card { padding: 16px; display: grid; gap: 8px; }
  .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
           color: var(--color-text-secondary, #656d76); }
  .amount { font-size: 28px; font-weight: 600; }
  .description { color: var(--color-text-secondary, #656d76); overflow-wrap: anywhere; }
  .actions { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-top: 4px; }
  button, .pay { font: inherit; border-radius: var(--border-radius-md, 8px); padding: 8px 16px; cursor: pointer; }
  .pay { background: #635bff; color: #fff; border: 0; text-decoration: none; font-weight: 600; }
  .check { background: transparent; color: inherit; border: 1px solid var(--color-border-primary, #d0d7de); }
  .status { font-size: 14px; min-height: 1.2em; }
  .error { color: #cf222e; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<main class="card" aria-live="polite">
  <div class="label">Payment</div>
  <div class="amount" id="amount">Preparing payment…</div>
  <div class="description" id="description"></div>
  <div class="actions">
    <a class="pay" id="pay" href="#" target="_blank" rel="noopener noreferrer" hidden>Pay</a>
    <button class="check" id="check" type="button" hidden>Check payment status</button>
  </div>
  <div class="status" id="status"></div>
</main>
<script>
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const pending = new Map();
  let nextId = 1;
  let action = null;
  let polls = 0;

  function send(message) { window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*"); }
  function notify(method, params) { send({ method, params }); }
  function request(method, params, timeoutMs = 15000) {
    const id = nextId++;
    send({ id, method, params });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { pending.delete(id); reject(new Error("no answer from the host")); }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
    });
  }

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").classList.toggle("error", Boolean(isError));
  }

  function formatAmount(amount, currency) {
    try { return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount); }
    catch { return `${amount} ${currency}`; }
  }

  function showResult(result) {
    const found = result && result.structuredContent && result.structuredContent.__frontendAction;
    if (!found || found.type !== "payment" || !/^https?:\\/\\//.test(String(found.payUrl))) {
      const text = result && Array.isArray(result.content) && result.content.find((c) => c.type === "text");
      $("amount").textContent = "Payment not available";
      setStatus(text ? text.text : "The payment could not be prepared.", true);
      return;
    }
    action = found;
    $("amount").textContent = formatAmount(action.amount, action.currency);
    // The spec's displaySummary is the buyer's words; the Stripe description is for the merchant.
    $("description").textContent = action.summary || action.description;
    $("pay").href = action.payUrl;
    $("pay").hidden = false;
    $("check").hidden = false;
    setStatus("Nothing is charged until you confirm on the pay page.");
  }

  async function openPayPage(event) {
    event.preventDefault();
    if (!action) return;
    try {
      const answer = await request("ui/open-link", { url: action.payUrl });
      if (answer && answer.isError) throw new Error("refused");
    } catch {
      window.open(action.payUrl, "_blank", "noopener,noreferrer");
    }
    setStatus("Complete the payment in the window that opened.");
    polls = 0;
    setTimeout(poll, 5000);
  }

  async function checkStatus() {
    if (!action) return null;
    try {
      const result = await request("tools/call", {
        name: "refreshPayment", arguments: { orderType: action.orderType, orderId: action.orderId },
      });
      const status = result && result.structuredContent;
      if (!status || result.isError) throw new Error("no status");
      const state = status._paymentConfirmation;
      if (state === "paid") {
        $("pay").hidden = true;
        setStatus("Paid. Thank you!");
      } else if (state === "processing") {
        setStatus("The payment is being processed…");
      } else if (state === "canceled") {
        setStatus("The payment was canceled.", true);
      } else {
        setStatus("Not paid yet.");
      }
      return state;
    } catch {
      setStatus("The payment status is not available right now.", true);
      return null;
    }
  }

  async function poll() {
    polls += 1;
    const state = await checkStatus();
    if (state !== "paid" && state !== "canceled" && polls < 60) setTimeout(poll, 5000);
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.id !== undefined && pending.has(message.id) && !message.method) {
      const call = pending.get(message.id);
      pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) call.reject(new Error(message.error.message || "error"));
      else call.resolve(message.result);
      return;
    }
    if (message.method === "ui/notifications/tool-result") showResult(message.params);
    else if (message.id !== undefined && (message.method === "ui/resource-teardown" || message.method === "ping")) {
      send({ id: message.id, result: {} });
    }
  });

  $("pay").addEventListener("click", openPayPage);
  $("check").addEventListener("click", checkStatus);
  new ResizeObserver(() => {
    notify("ui/notifications/size-changed", { width: document.body.scrollWidth, height: document.body.scrollHeight });
  }).observe(document.body);

  request("ui/initialize", {
    protocolVersion: "2026-01-26",
    appInfo: { name: "orderpay-payment-card", version: "1.0.0" },
    appCapabilities: {},
  }).then(() => notify("ui/notifications/initialized", {}))
    .catch(() => setStatus("Open this card in a chat app that supports MCP Apps.", true));
})();
</script>
</body>
</html>
"""


def payment_card_apps() -> Apps:
    """The MCP Apps extension carrying the payment card resource."""
    apps = Apps()
    apps.add_html_resource(
        PAYMENT_CARD_URI,
        PAYMENT_CARD_HTML,
        name="payment-card",
        title="Payment card",
        description="Shows a prepared payment with a Pay button that opens the hosted pay page.",
        prefers_border=True,
        # Nothing to fetch or load: the host's default (most restrictive) policy is all it needs.
        # Declared, so a host does not have to guess; the pay page opens outside, through the host.
        csp=ResourceCsp(connect_domains=[], resource_domains=[]),
    )
    return apps
