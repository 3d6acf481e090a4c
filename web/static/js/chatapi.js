// The chat backend (bff): the SSE turn endpoint and the conversation store,
// with the user's bearer token (or a function giving the current one). Answers are normalised here, in one place.
import { bearerOf, requestJson, SystemError } from "./http.js";
import { readEventStream } from "./sse.js";

export function chatApi(token, { onUnauthorized } = {}) {
  async function call(method, path) {
    try {
      return await requestJson(method, path, { token });
    } catch (error) {
      if (error.status === 401 && onUnauthorized) onUnauthorized();
      throw error;
    }
  }

  return {
    /** [{id, title, updatedAt}] newest first. */
    async conversations() {
      const answer = await call("GET", "/api/chat/conversations");
      const rows = Array.isArray(answer) ? answer : answer.conversations || answer.items || [];
      return rows.map((row) => ({
        id: row.id || row.conversationId,
        title: row.title || row.summary || row.preview || "Conversation",
        updatedAt: row.updatedAt || row.updated_at || row.createdAt || null,
      }));
    },
    /** The stored conversation: {id, messages: [...]} (see history.js). */
    async conversation(id) {
      const answer = await call("GET", `/api/chat/conversations/${encodeURIComponent(id)}`);
      return answer.conversation || answer;
    },
    deleteConversation: (id) => call("DELETE", `/api/chat/conversations/${encodeURIComponent(id)}`),
    stopTurn: (turnId) => call("POST", `/api/chat/turns/${encodeURIComponent(turnId)}/stop`),

    /**
     * One turn: POSTs the message, calls `onEvent(type, data, id)` for each SSE event.
     * `lastEventId` resumes an interrupted stream after that event.
     */
    async stream({ message, conversationId, lastEventId, signal, onEvent }) {
      const headers = { Authorization: `Bearer ${bearerOf(token)}`, Accept: "text/event-stream" };
      const init = { method: "POST", headers, signal };
      if (lastEventId) {
        headers["Last-Event-ID"] = lastEventId; // the rest of the same turn, not a new one
      } else {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(conversationId ? { message, conversationId } : { message });
      }
      let response;
      try {
        response = await fetch("/api/chat/stream", init);
      } catch (error) {
        if (error.name === "AbortError") throw error;
        throw new SystemError("The assistant could not be reached. Check the connection and try again.");
      }
      if (response.status === 204) {
        // Nothing left of that turn to resume (SSE's "stop"): say so rather than retry.
        throw new SystemError("The answer is no longer available. Please ask again.", 204);
      }
      if (!response.ok) {
        const json = await response.json().catch(() => null);
        if (response.status === 401 && onUnauthorized) onUnauthorized();
        throw new SystemError((json && json.message) || `The assistant answered HTTP ${response.status}.`, response.status, json);
      }
      await readEventStream(response, (frame) => {
        let data;
        try {
          data = JSON.parse(frame.data);
        } catch {
          data = { content: frame.data };
        }
        onEvent(frame.event, data, frame.id);
      });
    },
  };
}
