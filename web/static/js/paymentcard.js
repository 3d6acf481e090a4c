// PaymentActionCard: what `initiatePayment` prepared (description, amount, Pay),
// the checkout it opens, and the order's payment state. The state always comes
// from the order itself (_paymentConfirmation), never from this page's memory,
// so a reopened conversation or a return from 3-D Secure shows the truth.
import { el, say } from "./dom.js";
import { formatAmount, humanize, localizeSummary } from "./money.js";
import { createCheckout } from "./checkout.js";
import { PaymentFailed, checkPaymentIntent, recalledCard, waitForFinalState } from "./payflow.js";

/**
 * `action`: the tool's __frontendAction {orderId, orderType, amount, currency, description, summary};
 * the card shows `summary` (the spec's displaySummary, in the buyer's words) and falls back to
 * `description` (what Stripe is told) only when the spec has no summary.
 * `api`: orderapi.js for this order. `stripe`: () → the Stripe instance (created on first use).
 * `returnUrl()`: where 3-D Secure should come back to. `resume`: {clientSecret, redirectStatus}
 * when the page is that return. `openCheckout`: open the checkout at once (the hosted pay page).
 * `checkout`: the panel's maker (the pay page without a session: checkout.js with `savedCards: false`).
 */
export function createPaymentCard(action, { api, stripe, returnUrl, resume = null, openCheckout = false,
  checkout: makeCheckout = createCheckout }) {
  const amountText = formatAmount(action.amount, action.currency);
  const state = el("p", { className: "payment-state", role: "status", "aria-live": "polite", tabindex: "-1" },
    "Checking the order…");
  const status = el("p", { className: "order-status", hidden: true });
  const badge = el("span", { className: "badge", hidden: true }, "Paid");
  const payButton = el("button", { type: "button", className: "primary", hidden: true }, `Pay ${amountText}`);
  const checkoutSlot = el("div", { className: "checkout-slot" });
  const element = el("article", { className: "payment-card", "aria-label": `Payment of ${amountText}`,
    dataset: { orderId: action.orderId, state: "checking" } },
  el("div", { className: "payment-head" }, el("span", { className: "label" }, "Payment"), badge),
  el("p", { className: "amount" }, amountText),
  el("p", { className: "summary" }, action.summary ? localizeSummary(action.summary) : action.description || ""),
  state, status,
  el("div", { className: "actions" }, payButton),
  checkoutSlot);

  let checkout = null;

  function setState(name, text, kind = "info") {
    element.dataset.state = name;
    say(state, text, kind);
  }

  function showPaid(order, card) {
    const paidWith = card || recalledCard(action.orderId);
    setState("paid", paidWith ? `Paid with ${paidWith}.` : "Paid.", "ok");
    // The order's own status, in words ("Confirmed"), never the field's name.
    status.hidden = !order.status;
    status.textContent = order.status ? `Status: ${humanize(order.status)}` : "";
    badge.hidden = false;
    payButton.hidden = true;
    const focused = document.activeElement;
    const hadFocus = checkout && (!focused || focused === document.body || checkout.element.contains(focused));
    closeCheckout();
    if (hadFocus) state.focus(); // the buyer was paying: the result is where they are now
    // The answer around the card may still say "nothing charged yet": let it know.
    element.dispatchEvent(new CustomEvent("orderpay:paid", { bubbles: true, detail: { orderId: action.orderId, card: paidWith } }));
  }

  function showPayable(text, kind) {
    setState("payable", text, kind);
    payButton.hidden = Boolean(checkout);
  }

  /** The card's look for the order as it is now. */
  async function applyOrder(order, paymentResult, card = null) {
    if (order.confirmation === "paid") return showPaid(order, card);
    if (order.confirmation === "canceled") return showPayable("The last payment did not go through. You can pay again.", "error");
    if (order.confirmation === "processing" && !(paymentResult && paymentResult.paymentStatus === "requires_action")) {
      setState("processing", "The payment is processing…");
      const settled = await waitForFinalState(api);
      if (settled) return applyOrder(settled.order, settled.paymentResult, card);
      return stillProcessing();
    }
    return showPayable("Not paid yet. Money moves only when you click Pay.");
  }

  function openCheckoutPanel() {
    if (checkout) return;
    checkout = makeCheckout({
      api, stripe: stripe(), amountText, returnUrl,
      onOutcome: ({ order, paymentResult, card }) => applyOrder(order, paymentResult, card),
    });
    checkoutSlot.append(checkout.element);
    payButton.hidden = true;
    checkout.open().then(() => checkout && checkout.focus());
  }

  function closeCheckout() {
    if (!checkout) return;
    checkout.close();
    checkout.element.remove();
    checkout = null;
  }

  function stillProcessing() {
    setState("processing", "The payment is still processing. Check again later.");
  }

  /** Back from 3-D Secure: Stripe's word first (for the message), then the order's (the truth). */
  async function resumeAfterRedirect() {
    setState("processing", "Checking the payment…");
    let failure = null;
    try {
      if (resume.clientSecret) await checkPaymentIntent(stripe(), resume.clientSecret);
    } catch (error) {
      if (!(error instanceof PaymentFailed)) throw error;
      failure = error;
    }
    const settled = await waitForFinalState(api, { attempts: failure ? 5 : 30 });
    if (!settled) return stillProcessing();
    await applyOrder(settled.order, settled.paymentResult);
    if (failure && element.dataset.state !== "paid") say(state, failure.message, "error");
    return undefined;
  }

  async function load() {
    try {
      if (resume) await resumeAfterRedirect();
      else await applyOrder(await api.order(), null);
      if (openCheckout && element.dataset.state === "payable") openCheckoutPanel();
    } catch (error) {
      setState("error", error.message, "error");
      payButton.hidden = false; // paying may still work: let the buyer try
    }
  }

  payButton.addEventListener("click", () => {
    try {
      openCheckoutPanel();
    } catch (error) {
      say(state, error.message, "error");
    }
  });
  load();
  return { element };
}
