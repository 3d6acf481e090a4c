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

/**
 * Card number, expiry and CVC elements mounted into the three given containers.
 * `onChange(field, state)` gets each element's change event ({empty, complete, error, brand}),
 * field being "number", "expiry" or "cvc".
 */
export function mountCardElements(stripe, { number, expiry, cvc }, { onChange } = {}) {
  const elements = stripe.elements();
  const style = { base: { fontSize: "16px" } };
  const card = {
    number: elements.create("cardNumber", { style }),
    expiry: elements.create("cardExpiry", { style }),
    cvc: elements.create("cardCvc", { style }),
  };
  const targets = { number, expiry, cvc };
  for (const [field, element] of Object.entries(card)) {
    element.mount(targets[field]);
    if (onChange) element.on("change", (state) => onChange(field, state));
  }
  return {
    numberElement: card.number,
    focus(field = "number") { card[field].focus(); },
    clear() { Object.values(card).forEach((element) => element.clear()); },
    destroy() { Object.values(card).forEach((element) => element.destroy()); },
  };
}
