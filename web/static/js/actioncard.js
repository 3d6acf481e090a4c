// ActionCard: what a tool result asks the UI to show (`__frontendAction`), in the
// tool call's place. `payment` becomes a PaymentActionCard; any other type is
// named but not acted on.
import { el } from "./dom.js";
import { createPaymentCard } from "./paymentcard.js";

function parsed(value) {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}

/** The `__frontendAction` a tool result carries (as an object, JSON text, MCP structured or text content), or null. */
export function frontendActionOf(result) {
  const value = parsed(result);
  if (!value || typeof value !== "object") return null;
  if (value.__frontendAction && typeof value.__frontendAction === "object") return value.__frontendAction;
  for (const key of ["structuredContent", "structured_content", "data", "result"]) {
    const found = value[key] && frontendActionOf(value[key]);
    if (found) return found;
  }
  const content = Array.isArray(value) ? value : value.content;
  if (Array.isArray(content)) {
    for (const block of content) {
      const found = frontendActionOf(block && typeof block === "object" && "text" in block ? block.text : block);
      if (found) return found;
    }
  }
  return null;
}

/** The card for `action`; `paymentContext(action)` gives the payment card its API, Stripe and return URL. */
export function createActionCard(action, paymentContext) {
  if (action.type === "payment") return createPaymentCard(action, paymentContext(action)).element;
  return el("article", { className: "action-card" },
    el("p", {}, `The assistant asked for an action this page does not support (${String(action.type)}).`));
}
