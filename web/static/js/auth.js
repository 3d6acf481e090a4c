// The signed-in user: a bearer token from the development sign-in, kept for this
// browser tab only (sessionStorage), so it survives the 3-D Secure round trip.
import { requestJson } from "./http.js";

const KEY = "orderpay-session";

export function storedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    return session && session.token ? session : null;
  } catch {
    return null;
  }
}

export async function signIn(username, password) {
  const answer = await requestJson("POST", "/auth/login", { body: { username, password } });
  const session = { token: answer.access_token, user: answer.user || { username } };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}
