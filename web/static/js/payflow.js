// The seeds' payment flow (seed 002, "Analyzing the API Response" and "The Result
// Page"), independent of any markup:
//   start the payment with the chosen card and a return_url;
//   a system error (HTTP ≠ 200/201) → SystemError, retry;
//   a payment error (paymentResult.result === "ERR") → PaymentFailed, retry;
//   requires_action → stripe.handleNextAction, then retrievePaymentIntent;
//   then poll the order until _paymentConfirmation is paid or canceled.
import { SystemError } from "./http.js";
import { sleep } from "./dom.js";
import { buyerMessage } from "./money.js";

export class PaymentFailed extends Error {
  constructor(message) {
    super(message);
    this.name = "PaymentFailed";
  }
}

/** Starts and confirms the payment; resolves when Stripe's part is done (or never, when 3-D Secure redirects). */
export async function startPayment(api, stripe, paymentMethodId, returnUrl) {
  const outcome = await api.start(paymentMethodId, returnUrl);
  const result = outcome.paymentResult;
  if (!result) throw new SystemError("The server did not report a payment result; try again.");
  if (result.result === "ERR") throw new PaymentFailed(buyerMessage(result.message) || "The payment failed.");
  const info = result.paymentIntentInfo || {};
  if (info.status === "requires_action") {
    await runNextAction(stripe, info.clientSecret);
    await checkPaymentIntent(stripe, info.clientSecret);
  }
  return outcome;
}

/** Stripe.js's next action (3-D Secure). With a return_url it navigates to the bank's page. */
export async function runNextAction(stripe, clientSecret) {
  const { error } = await stripe.handleNextAction({ clientSecret });
  if (error) throw new PaymentFailed(error.message || "The card could not be authenticated.");
}

/** Stripe's side after an action: PaymentFailed when the card needs replacing. */
export async function checkPaymentIntent(stripe, clientSecret) {
  const { paymentIntent, error } = await stripe.retrievePaymentIntent(clientSecret);
  if (error) throw new SystemError(error.message || "Stripe could not be asked about the payment.");
  if (paymentIntent.status === "requires_payment_method") throw new PaymentFailed(failureMessage(paymentIntent.last_payment_error));
  return paymentIntent;
}

/** Words for the buyer: Stripe's own message, except for 3-D Secure, whose message is for developers. */
function failureMessage(lastError) {
  if (!lastError) return "Payment failed. Try another card.";
  if (lastError.code === "payment_intent_authentication_failure") {
    return "Payment failed: the card's 3-D Secure check was not completed. Try again or use another card.";
  }
  return `Payment failed: ${lastError.message || lastError.code} Try another card.`;
}

/** Polls the order (refreshing it from Stripe) while its payment is processing: the order, not
 * Stripe.js, is the truth (a webhook may decide it). Null if it stays undecided. */
export async function waitForFinalState(api, { attempts = 30, intervalMs = 1000 } = {}) {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const { order, paymentResult } = await api.refresh();
    if (order.confirmation !== "processing") return { order, paymentResult };
    // An unfinished 3-D Secure attempt will not settle by waiting: the buyer can pay again.
    if (paymentResult && paymentResult.paymentStatus === "requires_action") return { order, paymentResult };
    await sleep(intervalMs);
  }
  return null;
}

// The words for the card being paid with ("Visa ••4242"), kept for this tab only, so the
// card can still name it after 3-D Secure's round trip to the bank. Never a card number or id.
const CARD_KEY = "orderpay-paid-with-";

export function rememberCard(orderId, label) {
  try {
    if (orderId) window.sessionStorage.setItem(CARD_KEY + orderId, label);
  } catch { /* storage off: the paid state just won't name the card after a redirect */ }
}

export function recalledCard(orderId) {
  try {
    return orderId ? window.sessionStorage.getItem(CARD_KEY + orderId) : null;
  } catch {
    return null;
  }
}
