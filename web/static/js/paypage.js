// The hosted pay page (/pay/{token}) and the payment result page (/pay/result):
// one PaymentActionCard on the pay-link API, for buyers coming from another MCP
// client or back from 3-D Secure. The pay token in the URL is the only authority.
import { byId, readConfig, say } from "./dom.js";
import { payLinkApi } from "./orderapi.js";
import { stripeClient } from "./stripeclient.js";
import { createPaymentCard } from "./paymentcard.js";
import { checkPaymentIntent } from "./payflow.js";

const config = readConfig();
const message = byId("page-message");
const stripe = () => stripeClient(config.publishableKey);

function resultUrl(token, orderId) {
  const url = new URL("/pay/result", window.location.origin);
  url.searchParams.set("token", token);
  url.searchParams.set("orderId", orderId);
  return url.toString();
}

async function showCard(token, resume) {
  const api = payLinkApi(token);
  try {
    const action = await api.details();
    const card = createPaymentCard(action, {
      api, stripe, resume, openCheckout: true, returnUrl: () => resultUrl(token, action.orderId),
    });
    byId("pay-slot").append(card.element);
  } catch (error) {
    say(message, error.message, "error");
  }
}

/** Without a pay token, Stripe's own answer is all this page can show. */
async function showStripeOnly(clientSecret) {
  if (!clientSecret) {
    say(message, "This page needs a payment link. Go back to the app to see your order.", "error");
    return;
  }
  try {
    const intent = await checkPaymentIntent(stripe(), clientSecret);
    say(message, intent.status === "succeeded" ? "Payment successful. Go back to the app to see your order."
      : `Payment ${intent.status}. Go back to the app to see your order.`, "ok");
  } catch (error) {
    say(message, error.message, "error");
  }
}

function resultPage() {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  const resume = { clientSecret: params.get("payment_intent_client_secret"), redirectStatus: params.get("redirect_status") };
  // The client secret has done its job once read: keep it out of history and bookmarks.
  const clean = new URL("/pay/result", window.location.origin);
  if (token) clean.searchParams.set("token", token);
  if (params.get("orderId")) clean.searchParams.set("orderId", params.get("orderId"));
  window.history.replaceState(null, "", clean);
  if (token) showCard(token, resume);
  else showStripeOnly(resume.clientSecret);
}

if (document.body.dataset.mode === "result") {
  resultPage();
} else {
  const token = decodeURIComponent(window.location.pathname.split("/").pop());
  showCard(token, null);
}
