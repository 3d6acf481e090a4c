// PaymentActionCard: what `initiatePayment` prepared (description, amount, Pay),
// the checkout it opens, and the order's payment state. The state always comes
// from the order itself (_paymentConfirmation), never from this page's memory,
// so a reopened conversation or a return from 3-D Secure shows the truth.
import { el, say } from "./dom.js";
import { formatAmount } from "./money.js";
import { createCheckout } from "./checkout.js";
import { PaymentFailed, checkPaymentIntent, waitForFinalState } from "./payflow.js";

/**
 * `action`: the tool's __frontendAction {orderId, orderType, amount, currency, description}.
 * `api`: orderapi.js for this order. `stripe`: () → the Stripe instance (created on first use).
 * `returnUrl()`: where 3-D Secure should come back to. `resume`: {clientSecret, redirectStatus}
 * when the page is that return. `openCheckout`: open the checkout at once (the hosted pay page).
 * `checkout`: the panel's maker (the pay page without a session: a typed card only, typedcard.js).
 */
export function createPaymentCard(action, { api, stripe, returnUrl, resume = null, openCheckout = false,
  checkout: makeCheckout = createCheckout }) {
  const amountText = formatAmount(action.amount, action.currency);
  const state = el("p", { className: "payment-state", role: "status", "aria-live": "polite" }, "Checking the order…");
  const badge = el("span", { className: "badge", hidden: true }, "Paid");
  const payButton = el("button", { type: "button", className: "primary", hidden: true,
    "aria-label": `Pay ${amountText}` }, "Pay");
  const checkoutSlot = el("div", { className: "checkout-slot" });
  const element = el("article", { className: "payment-card", "aria-label": `Payment of ${amountText}`,
    dataset: { orderId: action.orderId, state: "checking" } },
  el("div", { className: "payment-head" }, el("span", { className: "label" }, "Payment"), badge),
  el("p", { className: "amount" }, amountText),
  el("p", { className: "description" }, action.description || ""),
  state,
  el("div", { className: "actions" }, payButton),
  checkoutSlot);

  let checkout = null;

  function setState(name, text, kind = "info") {
    element.dataset.state = name;
    say(state, text, kind);
  }

  function showPaid(order) {
    setState("paid", order.status ? `Paid — ${api.statusProperty || "status"}: ${order.status}.` : "Paid.", "ok");
    badge.hidden = false;
    payButton.hidden = true;
    closeCheckout();
  }

  function showPayable(text, kind) {
    setState("payable", text, kind);
    payButton.hidden = Boolean(checkout);
  }

  /** The card's look for the order as it is now. */
  async function applyOrder(order, paymentResult) {
    if (order.confirmation === "paid") return showPaid(order);
    if (order.confirmation === "canceled") return showPayable("The last payment did not go through. You can pay again.", "error");
    if (order.confirmation === "processing" && !(paymentResult && paymentResult.paymentStatus === "requires_action")) {
      setState("processing", "The payment is processing…");
      const settled = await waitForFinalState(api);
      if (settled) return applyOrder(settled.order, settled.paymentResult);
      return stillProcessing();
    }
    return showPayable("Not paid yet. Money moves only when you click Pay.");
  }

  function openCheckoutPanel() {
    if (checkout) return;
    checkout = makeCheckout({
      api, stripe: stripe(), payLabel: `Pay ${amountText}`, returnUrl,
      onOutcome: ({ order, paymentResult }) => applyOrder(order, paymentResult),
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
