// A compact card for one tool call: its name, a spinner while it runs, then
// success or the error, with the arguments and the result behind a disclosure.
import { el } from "./dom.js";

function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** A ToolCard for `tool`; returns {element, executing(args), finished({result, success, error})}. */
export function createToolCard(tool) {
  const spinner = el("span", { className: "spinner", "aria-hidden": "true" });
  const status = el("span", { className: "tool-status" }, "running…");
  const argsBlock = el("pre", { className: "json" });
  const resultBlock = el("pre", { className: "json" });
  const argsSection = el("div", { className: "tool-section", hidden: true }, el("h4", {}, "Arguments"), argsBlock);
  const resultSection = el("div", { className: "tool-section", hidden: true }, el("h4", {}, "Result"), resultBlock);
  const element = el("details", { className: "tool-card", dataset: { tool, state: "running" } },
    el("summary", {}, spinner, el("span", { className: "tool-name" }, tool), status),
    argsSection, resultSection);

  return {
    element,
    executing(args) {
      argsBlock.textContent = pretty(args);
      argsSection.hidden = args === undefined;
    },
    finished({ result, success, error }) {
      const ok = success !== false && !error;
      element.dataset.state = ok ? "success" : "error";
      spinner.remove();
      status.textContent = ok ? "✓ done" : `✗ ${error || "failed"}`;
      resultBlock.textContent = pretty(result ?? error);
      resultSection.hidden = false;
    },
  };
}
