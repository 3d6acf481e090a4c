// Stripe.js, loaded by the page's <script> from the configured URL: real Stripe.js
// with live keys, the sandbox's stand-in offline. The same calls either way.
import { SystemError } from "./http.js";

let client = null;

/** The page's one Stripe instance for `publishableKey`. */
export function stripeClient(publishableKey) {
  if (!client) {
    if (typeof window.Stripe !== "function") throw new SystemError("Stripe.js did not load; reload the page to pay.");
    client = window.Stripe(publishableKey);
  }
  return client;
}

/** Card number, expiry and CVC elements mounted into the three given containers. */
export function mountCardElements(stripe, { number, expiry, cvc }) {
  const elements = stripe.elements();
  const style = { base: { fontSize: "16px" } };
  const card = {
    number: elements.create("cardNumber", { style }),
    expiry: elements.create("cardExpiry", { style }),
    cvc: elements.create("cardCvc", { style }),
  };
  card.number.mount(number);
  card.expiry.mount(expiry);
  card.cvc.mount(cvc);
  return {
    numberElement: card.number,
    clear() { Object.values(card).forEach((element) => element.clear()); },
    destroy() { Object.values(card).forEach((element) => element.destroy()); },
  };
}
