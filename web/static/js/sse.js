// A text/event-stream parser over fetch's ReadableStream (EventSource can neither
// POST nor send a bearer header). Follows the HTML spec's parsing rules: fields
// `event`, `data` (joined by newlines), `id`, comments, any line ending.

/** Calls `onFrame({event, data, id})` for each event of `response`'s body until it ends. */
export async function readEventStream(response, onFrame) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = createParser(onFrame);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
  }
  parser.end();
}

export function createParser(onFrame) {
  let buffer = "";
  let frame = { event: "", data: [] };
  let lastEventId = "";

  function dispatch() {
    if (frame.data.length) {
      onFrame({ event: frame.event || "message", data: frame.data.join("\n"), id: lastEventId });
    }
    frame = { event: "", data: [] };
  }

  function line(text) {
    if (text === "") return dispatch();
    if (text.startsWith(":")) return undefined; // a comment (keep-alive)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") frame.event = value;
    else if (field === "data") frame.data.push(value);
    else if (field === "id" && !value.includes("\0")) lastEventId = value;
    return undefined;
  }

  function drain(final) {
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      if (!match) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (!final && match[0] === "\r" && match.index === buffer.length - 1) break;
      line(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  }

  return {
    push(chunk) { buffer += chunk; drain(false); },
    end() { drain(true); }, // an unterminated last event is dropped, as the spec says
  };
}
