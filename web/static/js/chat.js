// The chat page: sign-in, the conversation list, and turns streamed from the bff
// into answer bubbles (answer.js) whose payment cards pay through the REST API
// with the user's own token.
import { byId, el, readConfig, sleep } from "./dom.js";
import { beginOidcSignIn, completeOidcSignIn, renewalDelay, renewSession, signIn, signOut, storedSession } from "./auth.js";
import { chatApi } from "./chatapi.js";
import { createAnswer, createUserMessage } from "./answer.js";
import { createActionCard } from "./actioncard.js";
import { createConversationList } from "./conversations.js";
import { renderHistory } from "./history.js";
import { restOrderApi } from "./orderapi.js";
import { stripeClient } from "./stripeclient.js";

const config = readConfig();
const MAX_RESUMES = 3;
const RETURN_PARAMS = ["orderId", "orderType", "payment_intent", "payment_intent_client_secret", "redirect_status"];

const state = {
  session: null,
  api: null,
  conversationId: null,
  streaming: null, // the AbortController of the turn in flight
  turnId: null, // that turn's id, from its `start` event: what Stop sends the server
  renewTimer: null, // renews an OpenID Connect session before its access token expires
  expiring: null, // the renewal under way after a 401, so that several 401s make one
  reopen: null, // the conversation to reopen after signing in again
  paymentReturn: null, // {orderId, clientSecret, redirectStatus} after a 3-D Secure redirect
};

// -- sign-in --------------------------------------------------------------------

function showSignIn() {
  byId("app").hidden = true;
  byId("account").hidden = true;
  byId("toggle-conversations").hidden = true;
  byId("signin").hidden = false;
  byId("signin-hint").hidden = !config.devSignIn;
  byId("signin-off").hidden = config.devSignIn || config.oidcSignIn;
  byId("demo-user-names").textContent = config.demoUsers.join(", ");
  byId("demo-users").replaceChildren(...config.demoUsers.map((name) => el("option", { value: name })));
  if (config.oidcSignIn) {
    oidcSignInButton();
    byId("signin-form").hidden = !config.devSignIn;
    byId("signin-oidc").focus();
  } else {
    byId("signin-username").focus();
  }
}

/** "Sign in" at the OpenID provider, above the development form (which production hides). */
function oidcSignInButton() {
  if (byId("signin-oidc")) return;
  const button = el("button", { id: "signin-oidc", type: "button" }, "Sign in");
  const message = el("p", { id: "signin-oidc-message", className: "message", role: "alert" });
  button.addEventListener("click", () => {
    message.textContent = "";
    beginOidcSignIn({ conversationId: state.reopen }).catch((error) => { message.textContent = error.message; });
  });
  byId("signin-form").before(button, message);
}

function signInFailed(message) {
  showSignIn();
  byId(config.oidcSignIn ? "signin-oidc-message" : "signin-message").textContent = message;
}

/** A 401 from an API: renew the session if it can be, else ask the buyer to sign in again. */
function sessionExpired() {
  if (!state.expiring) {
    state.expiring = renewSession(state.session).then((renewed) => {
      state.expiring = null;
      if (renewed) {
        state.session = renewed;
        scheduleRenewal();
        notice("Your sign-in was renewed; try again.");
      } else {
        askToSignInAgain();
      }
    });
  }
  return state.expiring;
}

function notice(text) {
  byId("notices").append(el("p", { className: "notice", role: "status" }, text));
}

/** The conversation stays on the page; signing in again comes back to it. */
function askToSignInAgain() {
  stopStreaming();
  clearTimeout(state.renewTimer);
  const conversationId = state.conversationId;
  signOut(); // this tab's token only: the sign-in at the provider is left as it is
  if (!config.oidcSignIn) {
    state.session = null;
    state.reopen = conversationId;
    showSignIn();
    byId("signin-message").textContent = "Your session has ended; sign in again.";
    return;
  }
  if (byId("sign-in-again")) return;
  const again = el("button", { id: "sign-in-again", type: "button" }, "Sign in again");
  again.addEventListener("click", () => {
    beginOidcSignIn({ conversationId }).catch((error) => { again.after(el("p", { className: "message" }, error.message)); });
  });
  byId("notices").append(el("div", { className: "notice", role: "alert" },
    el("p", {}, "Your session has ended. Sign in again to go on with this conversation; it is kept."), again));
  byId("send").disabled = true;
}

function scheduleRenewal() {
  clearTimeout(state.renewTimer);
  const delay = renewalDelay(state.session);
  if (delay === null) return;
  state.renewTimer = setTimeout(async () => {
    const renewed = await renewSession(state.session);
    if (renewed) {
      state.session = renewed;
      scheduleRenewal();
    } // else: the next call's 401 asks the buyer to sign in again
  }, delay);
}

async function onSignIn(event) {
  event.preventDefault();
  const form = event.target;
  byId("signin-message").textContent = "";
  try {
    start(await signIn(form.username.value.trim(), form.password.value));
  } catch (error) {
    byId("signin-message").textContent = error.message;
  }
}

// -- payments inside answers ------------------------------------------------------

function returnUrl(action) {
  const url = new URL("/", window.location.origin);
  if (state.conversationId) url.searchParams.set("conversationId", state.conversationId);
  url.searchParams.set("orderType", action.orderType);
  url.searchParams.set("orderId", action.orderId);
  return url.toString();
}

function orderApi(orderType, orderId, quote) {
  const objectConfig = config.orderObjects[orderType];
  if (!objectConfig) throw new Error(`This app has no order object ${orderType}.`);
  return restOrderApi({ token: () => state.session && state.session.token, orderType, orderId, objectConfig, onUnauthorized: sessionExpired, quote });
}

function paymentContext(action) {
  let resume = null;
  if (state.paymentReturn && state.paymentReturn.orderId === action.orderId) {
    resume = state.paymentReturn; // this card shows the payment the buyer is coming back from
    state.paymentReturn = null;
  }
  return {
    api: orderApi(action.orderType, action.orderId, action.quote),
    stripe: () => stripeClient(config.publishableKey),
    returnUrl: () => returnUrl(action),
    resume,
  };
}

function actionCard(action) {
  try {
    return createActionCard(action, paymentContext);
  } catch (error) {
    return el("p", { className: "message", dataset: { kind: "error" } }, error.message);
  }
}

/** Reads (and removes from the address bar) what a 3-D Secure redirect brought back. */
function takePaymentReturn() {
  const params = new URLSearchParams(window.location.search);
  const conversationId = params.get("conversationId");
  if (params.get("orderId") && (params.get("payment_intent_client_secret") || params.get("redirect_status"))) {
    state.paymentReturn = { orderId: params.get("orderId"), orderType: params.get("orderType"),
      clientSecret: params.get("payment_intent_client_secret"), redirectStatus: params.get("redirect_status") };
  }
  RETURN_PARAMS.forEach((name) => params.delete(name));
  const clean = new URL("/", window.location.origin);
  clean.search = params.toString();
  window.history.replaceState(null, "", clean);
  return conversationId;
}

/** A payment return whose card is not in the conversation (deleted, say): its outcome on its own. */
function showUnclaimedReturn() {
  const back = state.paymentReturn;
  if (!back || !config.orderObjects[back.orderType]) return;
  state.paymentReturn = null;
  const note = el("p", { className: "notice", role: "status" }, "Checking your payment…");
  byId("notices").append(note);
  orderApi(back.orderType, back.orderId).order().then((order) => {
    note.textContent = order.confirmation === "paid" ? "Your payment went through: the order is paid."
      : `Your payment is ${order.confirmation}.`;
  }).catch((error) => { note.textContent = error.message; });
}

// -- conversations -----------------------------------------------------------------

const conversationList = createConversationList(byId("conversation-list"), {
  onOpen: (id) => openConversation(id),
  onDelete: (row) => deleteConversation(row),
});

function setConversation(id) {
  state.conversationId = id;
  conversationList.setActive(id);
  const url = new URL("/", window.location.origin);
  if (id) url.searchParams.set("conversationId", id);
  window.history.replaceState(null, "", url);
}

async function refreshConversations() {
  try {
    conversationList.show(await state.api.conversations());
  } catch (error) {
    if (error.status !== 401) conversationList.show([]);
  }
}

async function openConversation(id) {
  stopStreaming();
  closeNarrowNav();
  const list = byId("messages");
  list.replaceChildren();
  setConversation(id);
  try {
    const conversation = await state.api.conversation(id);
    renderHistory(list, conversation.messages || [], { actionCard });
  } catch (error) {
    list.append(el("li", { className: "message notice", role: "alert" }, `This conversation could not be opened: ${error.message}`));
  }
  showUnclaimedReturn();
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

const UNDO_MS = 8000;

/** Deleting takes effect after a few seconds in which "Undo" brings the conversation back. */
function deleteConversation(row) {
  const { id } = row;
  conversationList.hide(id);
  if (id === state.conversationId) newConversation();
  let undone = false;
  const undo = el("button", { type: "button", className: "link" }, "Undo");
  const note = el("p", { className: "notice", role: "status" }, `Conversation “${row.title}” deleted. `, undo);
  byId("notices").append(note);
  undo.focus();
  const timer = setTimeout(async () => {
    note.remove();
    if (undone) return;
    try {
      await state.api.deleteConversation(id);
    } catch (error) {
      conversationList.restore(id);
      byId("notices").append(el("p", { className: "notice", role: "alert" }, error.message));
    }
    refreshConversations();
  }, UNDO_MS);
  undo.addEventListener("click", () => {
    undone = true;
    clearTimeout(timer);
    note.remove();
    conversationList.restore(id);
    byId("message").focus();
  });
}

function newConversation() {
  stopStreaming();
  closeNarrowNav();
  byId("messages").replaceChildren();
  byId("notices").replaceChildren();
  setConversation(null);
  byId("message").focus();
}

// -- a turn ------------------------------------------------------------------------

function setStreaming(controller) {
  state.streaming = controller;
  if (!controller) state.turnId = null;
  byId("stop").hidden = !controller;
  byId("send").disabled = Boolean(controller);
}

function stopStreaming() {
  if (!state.streaming) return;
  // Dropping the connection alone would leave the turn running for the resume grace period.
  if (state.turnId) state.api.stopTurn(state.turnId).catch(() => {});
  state.streaming.abort();
}

async function send(message, answer = null) {
  const list = byId("messages");
  const turn = answer || createAnswer({ actionCard });
  if (!answer) list.append(createUserMessage(message));
  list.append(turn.element);
  turn.element.scrollIntoView({ block: "end" });
  const controller = new AbortController();
  setStreaming(controller);
  let ended = false;
  const retry = () => {
    turn.element.remove();
    send(message, createAnswer({ actionCard }));
  };
  const handlers = {
    start: (data) => setConversation(data.conversationId || state.conversationId),
    text: (data) => turn.text(data.content || ""),
    tool_start: (data) => turn.toolStart(data.tool, data.id || data.callId),
    tool_executing: (data) => turn.toolExecuting(data.tool, data.args, data.id || data.callId),
    tool_result: (data) => turn.toolResult({ ...data, id: data.id || data.callId }),
    done: (data) => {
      ended = true;
      if (data.conversationId) setConversation(data.conversationId);
      turn.finish();
    },
    error: (data) => {
      ended = true;
      turn.error(data.message || "The assistant failed to answer.", retry);
    },
    stopped: () => {
      ended = true;
      turn.finish("stopped");
      turn.element.querySelector(".segments").append(el("p", { className: "hint" }, "Stopped."));
    },
  };
  let lastEventId = null;
  try {
    for (let attempt = 0; !ended; attempt += 1) {
      try {
        await state.api.stream({
          message, conversationId: state.conversationId, lastEventId: attempt ? lastEventId : null,
          signal: controller.signal,
          onEvent: (type, data, id) => {
            if (id) lastEventId = id;
            if (type === "start" && id) state.turnId = id.split(":")[0];
            const handle = handlers[type];
            if (handle) handle(data);
            turn.element.scrollIntoView({ block: "end" });
          },
        });
        if (!ended) throw new Error("The answer was interrupted.");
      } catch (error) {
        // A lost connection resumes the same turn after the last event seen (Last-Event-ID);
        // an answer the server refused (an HTTP status) does not.
        const resumable = error.name !== "AbortError" && !error.status && lastEventId && attempt < MAX_RESUMES;
        if (!resumable) throw error;
        await sleep(500 * (attempt + 1));
      }
    }
  } catch (error) {
    if (error.name === "AbortError") {
      turn.finish("stopped");
      turn.element.querySelector(".segments").append(el("p", { className: "hint" }, "Stopped."));
    } else {
      turn.error(error.message, retry);
    }
  } finally {
    setStreaming(null);
    refreshConversations();
  }
}

function onCompose(event) {
  event.preventDefault();
  const input = byId("message");
  const message = input.value.trim();
  if (!message || state.streaming) return;
  input.value = "";
  send(message);
}

function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    byId("composer").requestSubmit();
  }
}

// -- narrow screens ------------------------------------------------------------------

function closeNarrowNav() {
  document.body.classList.remove("nav-open");
  byId("toggle-conversations").setAttribute("aria-expanded", "false");
}

function toggleNarrowNav() {
  const open = document.body.classList.toggle("nav-open");
  byId("toggle-conversations").setAttribute("aria-expanded", String(open));
}

// -- start ---------------------------------------------------------------------------

function start(session, reopen = null) {
  state.session = session;
  state.api = chatApi(() => state.session && state.session.token, { onUnauthorized: sessionExpired });
  scheduleRenewal();
  byId("signin").hidden = true;
  byId("app").hidden = false;
  byId("account").hidden = false;
  byId("toggle-conversations").hidden = false;
  byId("account-name").textContent = (session.user && (session.user.fullname || session.user.username)) || "";
  const conversationId = takePaymentReturn() || reopen || state.reopen;
  state.reopen = null;
  refreshConversations();
  if (conversationId) {
    openConversation(conversationId);
  } else {
    newConversation();
    showUnclaimedReturn();
  }
}

byId("signin-form").addEventListener("submit", onSignIn);
byId("sign-out").addEventListener("click", async () => {
  stopStreaming();
  clearTimeout(state.renewTimer);
  const providerSignOut = await signOut(state.session);
  window.location.assign(providerSignOut || "/");
});
byId("composer").addEventListener("submit", onCompose);
byId("message").addEventListener("keydown", onComposerKey);
byId("stop").addEventListener("click", stopStreaming);
byId("new-chat").addEventListener("click", newConversation);
byId("toggle-conversations").addEventListener("click", toggleNarrowNav);

async function boot() {
  let back = null;
  try {
    back = await completeOidcSignIn(); // on the way back from the OpenID provider
  } catch (error) {
    signInFailed(error.message);
    return;
  }
  if (back && back.returnTo) {
    window.location.assign(back.returnTo); // signed in from another page of the site (the admin page)
    return;
  }
  const session = back ? back.session : storedSession();
  if (session) start(session, back && back.conversationId);
  else showSignIn();
}

boot();
