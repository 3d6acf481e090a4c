// JSON over fetch, classifying failures as the seeds do: any HTTP status other
// than 200/201 is a system error (seed 002, "System Error Case").

export class SystemError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.name = "SystemError";
    this.status = status;
    this.body = body;
  }
}

/** The token itself, or the current one when given a function (a session renewed meanwhile). */
export function bearerOf(token) {
  return typeof token === "function" ? token() : token;
}

/** `method url` with an optional bearer token and JSON body; the parsed JSON answer, or SystemError. */
export async function requestJson(method, url, { token, body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = bearerOf(token);
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = { method, headers, signal, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new SystemError("The server could not be reached. Check the connection and try again.");
  }
  if (response.status === 204) return null; // done, nothing to say (a DELETE)
  const json = await response.json().catch(() => null);
  if (response.status !== 200 && response.status !== 201) {
    const message = (json && json.message) || `The server answered HTTP ${response.status}.`;
    throw new SystemError(message, response.status, json);
  }
  return json;
}
