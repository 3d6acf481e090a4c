// The signed-in user: a bearer token kept for this browser tab only (sessionStorage), so it
// survives the 3-D Secure round trip and the OpenID provider's redirects.
//
// Two ways in: the development sign-in form (demo users), and OpenID Connect — the
// authorization code flow with PKCE. For the latter this tab makes the PKCE verifier and
// `state`, the provider sends the buyer back to /auth/callback, and the server exchanges the
// code (web/oidc.py). The refresh token stays in an HttpOnly cookie the page cannot read;
// renewSession() asks the server to use it.
import { requestJson } from "./http.js";

const KEY = "orderpay-session";
const FLOW = "orderpay-oidc-flow";
const RENEW_BEFORE_MS = 30000; // renew this long before the access token expires (a fifth of short lifetimes)

export function storedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    return session && session.token ? session : null;
  } catch {
    return null;
  }
}

function keep(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export async function signIn(username, password) {
  const answer = await requestJson("POST", "/auth/login", { body: { username, password } });
  return keep({ method: "dev", token: answer.access_token, user: answer.user || { username } });
}

// -- OpenID Connect ---------------------------------------------------------------------

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

/** A path of this site to go back to after signing in ("/admin"); anything else is dropped. */
function sameSitePath(path) {
  return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") && !path.includes("\\") ? path : null;
}

/**
 * Sends the tab to the provider's sign-in page. `conversationId`: the one to reopen afterwards;
 * `returnTo`: the page of this site to open afterwards (the provider always comes back to the chat).
 */
export async function beginOidcSignIn({ conversationId = null, returnTo = null } = {}) {
  const config = await requestJson("GET", "/auth/oidc/config");
  const verifier = randomString(48); // 64 characters, within RFC 7636's 43..128
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomString(24);
  sessionStorage.setItem(FLOW, JSON.stringify({ state, verifier, conversationId, returnTo: sameSitePath(returnTo) }));
  const url = new URL(config.authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: config.clientId, redirect_uri: config.redirectUrl, scope: config.scopes,
    state, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.toString());
}

function sessionFrom(answer) {
  return {
    method: "oidc",
    token: answer.access_token,
    idToken: answer.id_token || null,
    expiresAt: Date.now() + (answer.expires_in || 0) * 1000,
    lifetimeMs: (answer.expires_in || 0) * 1000,
    refreshable: Boolean(answer.refreshable),
    user: answer.user,
  };
}

/**
 * On the way back from the provider (`?code&state` or `?error`): finishes the sign-in.
 * Null when this page load is not a sign-in callback; else {session, conversationId, returnTo}.
 * Throws with a message for the buyer when the sign-in failed.
 */
export async function completeOidcSignIn() {
  const params = new URLSearchParams(window.location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (!code && !error) return null;
  let flow = null;
  try {
    flow = JSON.parse(sessionStorage.getItem(FLOW));
  } catch {
    flow = null;
  }
  sessionStorage.removeItem(FLOW);
  window.history.replaceState(null, "", "/"); // the code is single-use: not left in the address bar
  if (error) throw new Error(`The sign-in did not complete: ${params.get("error_description") || error}.`);
  if (!flow || flow.state !== params.get("state")) {
    throw new Error("This sign-in was not started from this tab. Sign in again.");
  }
  const answer = await requestJson("POST", "/auth/oidc/token", { body: { code, codeVerifier: flow.verifier } });
  return { session: keep(sessionFrom(answer)), conversationId: flow.conversationId, returnTo: sameSitePath(flow.returnTo) };
}

/** A fresh access token from the server's refresh cookie; null when there is none to renew. */
export async function renewSession(session) {
  if (!session || session.method !== "oidc" || !session.refreshable) return null;
  try {
    const answer = await requestJson("POST", "/auth/oidc/refresh", { body: {} });
    return keep({ ...sessionFrom(answer), idToken: answer.id_token || session.idToken });
  } catch {
    return null;
  }
}

/** Milliseconds until the session should be renewed (null: it cannot be). */
export function renewalDelay(session) {
  if (!session || session.method !== "oidc" || !session.refreshable || !session.expiresAt) return null;
  const early = Math.min(RENEW_BEFORE_MS, (session.lifetimeMs || 0) / 5);
  return Math.max(1000, session.expiresAt - Date.now() - early);
}

/** Forgets the session; resolves to the provider's sign-out page to visit, if any. */
export async function signOut(session = storedSession()) {
  sessionStorage.removeItem(KEY);
  if (!session || session.method !== "oidc") return null;
  try {
    const answer = await requestJson("POST", "/auth/oidc/logout", { body: { idToken: session.idToken } });
    return answer.endSessionUrl || null;
  } catch {
    return null; // signed out here at least
  }
}
