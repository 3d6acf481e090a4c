// DOM building with text only: every value becomes a text node or an attribute,
// never markup. The one way this UI creates elements.

/** An element with attributes/properties from `props` and `children` appended as nodes or text. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

/** Appends nodes and strings (as text) to `node`, skipping null/false. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

/** The page's public configuration, written by the server into <body data-config>. */
export function readConfig() {
  return JSON.parse(document.body.dataset.config);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A status line: text plus a kind ("ok", "error", "info") for its style. */
export function say(node, text, kind = "info") {
  node.textContent = text || "";
  node.dataset.kind = kind;
}
