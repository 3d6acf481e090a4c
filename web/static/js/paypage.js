// The hosted pay page (/pay/{token}) and the payment result page (/pay/result): one
// PaymentActionCard on the pay-link API, for buyers coming from another MCP client or back
// from 3-D Secure. Like a Stripe Payment Link, the pay token alone lets the page pay with a
// card typed here, never saved (checkout.js with `savedCards: false`). The buyer's saved cards appear only once they
// sign in on this page as the link's user (the server refuses anyone else).
import { byId, el, readConfig, say } from "./dom.js";
import { signIn, signOut, storedSession } from "./auth.js";
import { payLinkApi } from "./orderapi.js";
import { stripeClient } from "./stripeclient.js";
import { createPaymentCard } from "./paymentcard.js";
import { createCheckout } from "./checkout.js";
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

/** "Signed in as …" with Sign out, or (development sign-in only) a form to sign in for saved cards. */
function accountPanel(session, reload) {
  const slot = byId("account-slot");
  if (session) {
    const name = (session.user && (session.user.fullname || session.user.username)) || "you";
    const out = el("button", { type: "button", className: "link" }, "Sign out");
    out.addEventListener("click", () => { signOut(); reload(); });
    slot.replaceChildren(el("p", { className: "hint" }, `Signed in as ${name}: your saved cards are shown. `, out));
    return;
  }
  if (!config.devSignIn) {
    slot.replaceChildren();
    return;
  }
  const form = el("form", { className: "signin pay-signin", "aria-label": "Sign in for saved cards" },
    el("p", { className: "hint" }, "Want to use a saved card? Sign in as the buyer this link was made for."),
    el("label", { for: "pay-signin-username" }, "User"),
    el("input", { id: "pay-signin-username", name: "username", autocomplete: "username", required: true }),
    el("label", { for: "pay-signin-password" }, "Password"),
    el("input", { id: "pay-signin-password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    el("button", { type: "submit", className: "secondary" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signIn(form.username.value.trim(), form.password.value);
      reload();
    } catch (error) {
      say(message, error.message, "error");
    }
  });
  slot.replaceChildren(el("details", { className: "pay-account" }, el("summary", {}, "Pay with a saved card"), form));
}

async function showCard(token, resume) {
  const session = storedSession();
  const api = payLinkApi(token, { token: session && session.token });
  const reload = () => { say(message, ""); showCard(token, null); };
  byId("pay-slot").replaceChildren();
  try {
    const action = await api.details();
    const card = createPaymentCard(action, {
      api, stripe, resume, openCheckout: true, returnUrl: () => resultUrl(token, action.orderId),
      checkout: (options) => createCheckout({ ...options, savedCards: Boolean(action.savedCards) }),
    });
    byId("pay-slot").append(card.element);
    accountPanel(action.savedCards ? session : null, reload);
  } catch (error) {
    const code = error.body && error.body.errCode;
    if (session && (code === "pay_link_other_user" || code === "unauthorized")) {
      // Signed in as someone else (or the session ended): back to the card typed here.
      signOut();
      await showCard(token, resume);
      say(message, error.message, "error");
      return;
    }
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
