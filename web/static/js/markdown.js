// A small Markdown renderer for the assistant's text. Safe by construction: it
// builds DOM nodes and puts all text in text nodes, so markup in the model's
// output shows as the characters it is; links keep only http(s) and mailto URLs.
// Supports paragraphs, line breaks, headings, lists, quotes, fenced code, rules,
// and inline code, bold, italic, links and bare URLs.
import { el } from "./dom.js";

const SAFE_PROTOCOLS = ["http:", "https:", "mailto:"];

/** A URL safe to put in href (absolute, http/https/mailto), or null. */
export function safeUrl(raw) {
  try {
    const url = new URL(raw, window.location.origin);
    return SAFE_PROTOCOLS.includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(href, children) {
  const url = safeUrl(href);
  if (!url) return children;
  return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, children);
}

const INLINE_RULES = [
  { pattern: /`([^`\n]+)`/, make: (m) => el("code", {}, m[1]) },
  { pattern: /\[([^\]\n]+)\]\(([^()\s]+)\)/, make: (m) => link(m[2], inline(m[1])) },
  { pattern: /\bhttps?:\/\/[^\s<>()]*[^\s<>().,;:!?'"*_]/, make: (m) => link(m[0], [m[0]]) },
  // Underscores only count at word edges, so snake_case and __names__ inside words stay as written.
  { pattern: /\*\*(\S(?:[^\n]*?\S)?)\*\*|(?<![\w])__(\S(?:[^\n]*?\S)?)__(?![\w])/, make: (m) => el("strong", {}, inline(m[1] ?? m[2])) },
  { pattern: /\*(\S(?:[^*\n]*?\S)?)\*|(?<![\w])_(\S(?:[^_\n]*?\S)?)_(?![\w])/, make: (m) => el("em", {}, inline(m[1] ?? m[2])) },
];

/** Inline Markdown of one line as nodes and strings: the earliest match wins, the rest recurses. */
export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE_RULES) {
      const match = rule.pattern.exec(rest);
      if (match && (!best || match.index < best.match.index)) best = { match, rule };
    }
    if (!best) {
      out.push(rest);
      break;
    }
    if (best.match.index > 0) out.push(rest.slice(0, best.match.index));
    out.push(best.rule.make(best.match));
    rest = rest.slice(best.match.index + best.match[0].length);
  }
  return out;
}

function linesWithBreaks(lines) {
  return lines.flatMap((line, index) => (index ? [el("br"), ...inline(line)] : inline(line)));
}

const BLOCK_STARTS = [
  /^\s*```/, /^\s{0,3}#{1,6}\s/, /^\s*[-*+]\s+/, /^\s*\d+[.)]\s+/, /^\s*>/, /^\s{0,3}([-*_])(\s*\1){2,}\s*$/,
];

function startsBlock(line) {
  return BLOCK_STARTS.some((pattern) => pattern.test(line));
}

function list(lines, start, ordered) {
  const item = ordered ? /^\s*\d+[.)]\s+(.*)$/ : /^\s*[-*+]\s+(.*)$/;
  const node = el(ordered ? "ol" : "ul");
  let index = start;
  while (index < lines.length && item.test(lines[index])) {
    node.append(el("li", {}, inline(lines[index].match(item)[1])));
    index += 1;
  }
  return { node, next: index };
}

/** The Markdown `text` as a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    if (!line.trim()) {
      index += 1;
    } else if (/^\s*```/.test(line)) {
      const language = line.trim().slice(3).trim();
      const code = [];
      index += 1;
      while (index < lines.length && !/^\s*```/.test(lines[index])) code.push(lines[index++]);
      index += 1; // the closing fence (or the end, while the text is still streaming)
      fragment.append(el("pre", {}, el("code", { "data-language": language || null }, code.join("\n"))));
    } else if (/^\s{0,3}(#{1,6})\s/.test(line)) {
      const [, hashes, title] = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/) || [null, "#", line];
      fragment.append(el(`h${Math.min(hashes.length + 2, 6)}`, {}, inline(title)));
      index += 1;
    } else if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      fragment.append(el("hr"));
      index += 1;
    } else if (/^\s*[-*+]\s+/.test(line) || /^\s*\d+[.)]\s+/.test(line)) {
      const { node, next } = list(lines, index, /^\s*\d/.test(line));
      fragment.append(node);
      index = next;
    } else if (/^\s*>/.test(line)) {
      const quoted = [];
      while (index < lines.length && /^\s*>/.test(lines[index])) quoted.push(lines[index++].replace(/^\s*>\s?/, ""));
      fragment.append(el("blockquote", {}, renderMarkdown(quoted.join("\n"))));
    } else {
      const paragraph = [];
      while (index < lines.length && lines[index].trim() && (!paragraph.length || !startsBlock(lines[index]))) {
        paragraph.push(lines[index++]);
      }
      fragment.append(el("p", {}, linesWithBreaks(paragraph)));
    }
  }
  return fragment;
}
