// The conversation list: open one, delete one, start a new one.
import { el } from "./dom.js";

export function createConversationList(listNode, { onOpen, onDelete }) {
  let activeId = null;
  let rows = [];

  function render() {
    listNode.replaceChildren(...rows.map((row) => {
      const open = el("button", { type: "button", className: "conversation-open",
        "aria-current": row.id === activeId ? "true" : null, onClick: () => onOpen(row.id) }, row.title);
      const remove = el("button", { type: "button", className: "link danger", "aria-label": `Delete conversation ${row.title}`,
        onClick: () => onDelete(row.id) }, "×");
      return el("li", { dataset: { conversationId: row.id } }, open, remove);
    }));
  }

  return {
    show(list) { rows = list; render(); },
    setActive(id) { activeId = id; render(); },
  };
}
