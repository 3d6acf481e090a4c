// The payments admin page: payments, buyers' refund requests, and refunds with a click —
// all through the same REST API as any client (the API decides who may refund, not this page).
import { beginOidcSignIn, signIn, signOut, storedSession } from "./auth.js";
import { append, byId, el, readConfig, say } from "./dom.js";
import { requestJson } from "./http.js";
import { formatAmount } from "./money.js";

const config = readConfig();
let session = storedSession();

/** Digits after the point of `currency` (JPY 0, USD 2, KWD 3), as Intl knows them. */
function digitsOf(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

function major(minor, currency) {
  return minor == null ? null : minor / 10 ** digitsOf(currency);
}

function money(minor, currency) {
  return minor == null ? "—" : formatAmount(major(minor, currency), currency);
}

/** A refund amount typed in major units, in the unit the order object's amount is kept in. */
function inOrderUnit(typed, currency, unit) {
  const value = Number(typed);
  return unit === "minor" ? Math.round(value * 10 ** digitsOf(currency)) : value;
}

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

function refundForm(name, info, record) {
  const left = (record.amount || 0) - (record.amountRefunded || 0);
  if (record.statusLiteral !== "success" || left <= 0) return el("span", { text: left <= 0 && record.statusLiteral === "success" ? "refunded" : "—" });
  // One key per intended refund: sent again after a lost answer, it is the same refund.
  let key = newKey();
  const amount = el("input", { type: "number", min: "0", step: "any", placeholder: String(major(left, record.currency)),
                               "aria-label": `Amount to refund of order ${record.orderId}`, className: "refund-amount" });
  const reason = el("input", { type: "text", maxlength: "500", placeholder: "reason",
                               "aria-label": `Reason for refunding order ${record.orderId}`, className: "refund-reason" });
  const status = el("span", { className: "message", role: "status" });
  const button = el("button", { type: "submit", text: "Refund" });
  const form = el("form", { className: "refund-form", dataset: { orderId: record.orderId } }, amount, reason, button, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    const body = {};
    if (amount.value) body.amount = inOrderUnit(amount.value, record.currency, info.amountUnit);
    if (reason.value) body.reason = reason.value;
    body.requestId = key;
    say(status, "Refunding…");
    try {
      const answer = await requestJson("POST", `${info.prefix}/v1/refund${name.toLowerCase()}payment/${record.orderId}`,
                                       { token: session.token, body });
      say(status, `Refunded ${money(answer.refund.amount, answer.refund.currency)}.`, "ok");
      key = newKey();
      await load();
    } catch (error) {
      say(status, error.message, "error");
      if (error.status && error.status < 500) key = newKey(); // refused: nothing happened, a new try is a new refund
      button.disabled = false;
    }
  });
  return form;
}

async function loadPayments() {
  const body = byId("payments").tBodies[0];
  body.replaceChildren();
  for (const [name, info] of Object.entries(config.orderObjects)) {
    const answer = await requestJson("GET", `${info.prefix}/v1/${name.toLowerCase()}payments?pageRowCount=100`, { token: session.token });
    for (const record of answer[`sys_${name}Payments`]) {
      const refunds = (record.refunds || []).map((r) => el("li", { text: `${money(r.amount, r.currency)} ${r.status}${r.note ? ` — ${r.note}` : ""}` }));
      const dispute = record.dispute ? `${record.dispute.status}${record.dispute.open ? " (open)" : ""}` : "—";
      append(body, [el("tr", { dataset: { orderId: record.orderId } },
        el("td", {}, el("code", { text: record.orderId }), el("div", { className: "hint", text: name })),
        el("td", { text: money(record.amount, record.currency) }),
        el("td", {}, money(record.amountRefunded || 0, record.currency), refunds.length ? el("ul", {}, refunds) : null),
        el("td", { text: record.statusLiteral }),
        el("td", { text: dispute }),
        el("td", {}, refundForm(name, info, record)))]);
    }
  }
}

async function loadRequests() {
  const body = byId("requests").tBodies[0];
  body.replaceChildren();
  const seen = new Set();
  for (const info of Object.values(config.orderObjects)) {
    if (seen.has(info.prefix)) continue;
    seen.add(info.prefix);
    const answer = await requestJson("GET", `${info.prefix}/v1/refundrequests`, { token: session.token });
    for (const request of answer.sys_refundRequests) {
      append(body, [el("tr", { dataset: { requestId: request.id, orderId: request.orderId } },
        el("td", { text: new Date(request.createdAt).toLocaleString() }),
        el("td", {}, el("code", { text: request.orderId })),
        el("td", { text: request.reason }),
        el("td", { text: request.status }))]);
    }
  }
}

async function load() {
  try {
    await loadRequests();
    await loadPayments();
    say(byId("admin-message"), "");
  } catch (error) {
    say(byId("admin-message"), error.status === 403 ? "This page is for administrators." : error.message, "error");
  }
}

function show() {
  if (config.oidcSignIn) {
    // No password form with an OpenID provider: the form's button goes to the provider.
    for (const id of ["signin-username", "signin-password"]) {
      byId(id).hidden = true;
      byId(id).required = false;
      document.querySelector(`label[for=${id}]`).hidden = true;
    }
  }
  byId("signin").hidden = Boolean(session);
  byId("admin").hidden = !session;
  byId("account").hidden = !session;
  if (session) {
    byId("account-name").textContent = session.user.fullname || session.user.username || session.user.email || "";
    load();
  }
}

byId("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (config.oidcSignIn) {
    // Production: the administrator signs in at the OpenID provider, as buyers do in the chat.
    beginOidcSignIn({ returnTo: "/admin" }).catch((error) => say(byId("signin-message"), error.message, "error"));
    return;
  }
  try {
    session = await signIn(byId("signin-username").value, byId("signin-password").value);
    show();
  } catch (error) {
    say(byId("signin-message"), error.message, "error");
  }
});
byId("sign-out").addEventListener("click", () => {
  signOut();
  session = null;
  show();
});
show();
