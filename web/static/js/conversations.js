// The conversation list: open one, delete one (with a moment to undo), start a new one.
// Each row is its first message and when it was last used, so alike titles stay apart.
import { el } from "./dom.js";

/** "2 Dec, 14:03" (this year) or "2 Dec 2025": when a conversation was last used, in the buyer's locale. */
export function formatWhen(value) {
  const date = value ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  const thisYear = date.getFullYear() === new Date().getFullYear();
  const options = thisYear ? { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", year: "numeric" };
  return new Intl.DateTimeFormat(undefined, options).format(date);
}

export function createConversationList(listNode, { onOpen, onDelete }) {
  let activeId = null;
  let rows = [];
  const hidden = new Set(); // deleted, waiting out their undo

  function render() {
    listNode.replaceChildren(...rows.filter((row) => !hidden.has(row.id)).map((row) => {
      const when = formatWhen(row.updatedAt);
      const open = el("button", { type: "button", className: "conversation-open",
        "aria-current": row.id === activeId ? "true" : null, onClick: () => onOpen(row.id) },
      el("span", { className: "conversation-title" }, row.title),
      when ? el("span", { className: "conversation-when" }, when) : null);
      const remove = el("button", { type: "button", className: "link danger",
        "aria-label": `Delete conversation ${row.title}${when ? ` (${when})` : ""}`, onClick: () => onDelete(row) }, "×");
      return el("li", { dataset: { conversationId: row.id } }, open, remove);
    }));
  }

  return {
    show(list) { rows = list; render(); },
    setActive(id) { activeId = id; render(); },
    /** Hides a row while its deletion can still be undone; `restore(id)` brings it back. */
    hide(id) { hidden.add(id); render(); },
    restore(id) { hidden.delete(id); render(); },
  };
}
