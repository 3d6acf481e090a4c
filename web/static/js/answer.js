// One assistant answer: a bubble of ordered segments, built as the stream arrives —
// Markdown text, a ToolCard per tool call, and an ActionCard in the place of a tool
// whose result carries `__frontendAction`.
import { el } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { createToolCard } from "./toolcard.js";
import { frontendActionOf } from "./actioncard.js";

/** An answer bubble; `actionCard(action)` builds the element shown for a frontend action. */
export function createAnswer({ actionCard }) {
  const body = el("div", { className: "segments" });
  const typing = el("span", { className: "typing", role: "status" }, el("span", { className: "spinner", "aria-hidden": "true" }), "Thinking…");
  const element = el("li", { className: "message assistant", dataset: { state: "streaming" } },
    el("div", { className: "bubble" }, el("span", { className: "visually-hidden" }, "Assistant: "), body, typing));
  const tools = [];
  let text = null;
  let update = null;

  // A payment card in this answer was paid: the answer's text, written before, may still say
  // "nothing charged yet". One line at its end says what is true now.
  element.addEventListener("orderpay:paid", (event) => {
    if (!update) {
      update = el("p", { className: "answer-update" });
      body.append(update);
    }
    const card = event.detail && event.detail.card;
    update.textContent = card ? `Update: this order is now paid (with ${card}).` : "Update: this order is now paid.";
  });

  function findTool(tool, id, open) {
    const candidates = tools.filter((entry) => open(entry) && (id ? entry.id === id : entry.tool === tool));
    return candidates[0] || null;
  }

  const answer = {
    element,
    text(content) {
      if (!text) {
        text = { node: el("div", { className: "markdown" }), raw: "" };
        body.insertBefore(text.node, update && update.isConnected ? update : null);
      }
      text.raw += content;
      text.node.replaceChildren(renderMarkdown(text.raw));
    },
    toolStart(tool, id) {
      text = null; // text after a tool is a new segment, below it
      const entry = { tool, id, card: createToolCard(tool), hasArgs: false, done: false };
      tools.push(entry);
      body.append(entry.card.element);
      return entry;
    },
    toolExecuting(tool, args, id) {
      const entry = findTool(tool, id, (e) => !e.hasArgs && !e.done) || answer.toolStart(tool, id);
      entry.hasArgs = true;
      entry.card.executing(args);
    },
    toolResult({ tool, result, success, error, id }) {
      const entry = findTool(tool, id, (e) => !e.done) || answer.toolStart(tool, id);
      entry.done = true;
      entry.card.finished({ result, success, error });
      const action = success !== false ? frontendActionOf(result) : null;
      if (action) entry.card.element.replaceWith(actionCard(action));
    },
    /** A failed or interrupted turn: the message and, when given, a Retry button. */
    error(message, onRetry) {
      const retry = onRetry ? el("button", { type: "button", onClick: onRetry }, "Retry") : null;
      body.append(el("div", { className: "stream-error", role: "alert" }, el("span", {}, message), retry));
      answer.finish("error");
    },
    finish(state = "done") {
      typing.remove();
      element.dataset.state = state;
    },
  };
  return answer;
}

/** A user's message bubble. */
export function createUserMessage(text) {
  return el("li", { className: "message user" },
    el("div", { className: "bubble" }, el("span", { className: "visually-hidden" }, "You: "), el("p", {}, text)));
}
