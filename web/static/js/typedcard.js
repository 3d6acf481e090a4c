// The pay link's checkout without the buyer's session, like a Stripe Payment Link: a card typed
// on this page (Stripe.js card elements) becomes a PaymentMethod in the browser and pays this one
// order; it is charged once and never saved. Saved cards need the buyer to sign in (paypage.js).
// Same interface as checkout.js's panel, so the payment card (paymentcard.js) can hold either.
import { el, say } from "./dom.js";
import { SystemError } from "./http.js";
import { mountCardElements } from "./stripeclient.js";
import { PaymentFailed, startPayment, waitForFinalState } from "./payflow.js";

let panels = 0;

export function createTypedCardCheckout({ api, stripe, payLabel, returnUrl, onOutcome }) {
  panels += 1;
  const id = (part) => `typed-${panels}-${part}`;
  const message = el("p", { className: "message", role: "status", "aria-live": "polite" });
  const holder = el("input", { id: id("holder"), name: "holder", autocomplete: "cc-name" });
  const payButton = el("button", { type: "submit", className: "primary pay-now" }, payLabel);
  const retryButton = el("button", { type: "button", hidden: true }, "Try again");
  const form = el("form", { className: "card-form" },
    // Stripe.js labels its own inputs; these captions are for the eye.
    el("div", { className: "caption", "aria-hidden": "true" }, "Card number"), el("div", { className: "field", id: id("number") }),
    el("div", { className: "field-row" },
      el("div", {}, el("div", { className: "caption", "aria-hidden": "true" }, "Expiry"), el("div", { className: "field", id: id("expiry") })),
      el("div", {}, el("div", { className: "caption", "aria-hidden": "true" }, "CVC"), el("div", { className: "field", id: id("cvc") }))),
    el("label", { for: id("holder") }, "Name on card"), holder,
    el("p", { className: "hint" }, "This card pays this order only and is not saved."),
    el("div", { className: "actions" }, payButton, retryButton));
  const element = el("section", { className: "checkout typed-card", "aria-label": "Checkout" },
    el("h4", {}, "Pay with a card"), form, message);

  let cardElements = null;
  let lastAttempt = null; // the PaymentMethod of an attempt whose answer was lost: retried as is

  function busy(isBusy) {
    [payButton, retryButton].forEach((button) => { button.disabled = isBusy; });
  }

  async function pay(paymentMethodId) {
    lastAttempt = paymentMethodId;
    retryButton.hidden = true;
    say(message, "Paying…");
    await startPayment(api, stripe, paymentMethodId, returnUrl());
    say(message, "Confirming the payment…");
    const settled = await waitForFinalState(api);
    if (!settled) {
      say(message, "The payment is still processing. This page will show it when it is done.", "info");
      return;
    }
    onOutcome(settled);
    if (settled.order.confirmation !== "paid") say(message, "The payment did not go through. Try again or use another card.", "error");
  }

  async function attempt(makePaymentMethod) {
    busy(true);
    try {
      await pay(await makePaymentMethod());
    } catch (error) {
      if (error instanceof PaymentFailed) {
        say(message, `${error.message} Check the card or use another one.`, "error");
      } else if (error instanceof SystemError) {
        say(message, error.message, "error");
        retryButton.hidden = !lastAttempt; // the seeds' retry for system errors: the same attempt again
      } else {
        throw error;
      }
      api.order().then((order) => onOutcome({ order, paymentResult: null })).catch(() => {});
    } finally {
      busy(false);
    }
  }

  /** A new PaymentMethod for the card typed now: each Pay is a new card for Stripe. */
  async function typedCard() {
    lastAttempt = null;
    say(message, "Checking the card…");
    const { paymentMethod, error } = await stripe.createPaymentMethod({
      type: "card", card: cardElements.numberElement, billing_details: { name: holder.value || undefined },
    });
    if (error) throw new PaymentFailed(error.message);
    return paymentMethod.id;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(typedCard);
  });
  retryButton.addEventListener("click", () => attempt(async () => lastAttempt));

  return {
    element,
    /** Mounts the card elements; call once the panel is in the page. */
    async open() {
      if (!cardElements) {
        cardElements = mountCardElements(stripe, { number: `#${id("number")}`, expiry: `#${id("expiry")}`, cvc: `#${id("cvc")}` });
      }
    },
    close() {
      if (cardElements) cardElements.destroy();
      cardElements = null;
    },
    focus() { holder.focus(); },
  };
}
