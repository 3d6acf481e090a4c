// A stored conversation drawn with the same components as a live turn: each
// stored assistant message is replayed as the stream events it came from.
import { createAnswer, createUserMessage } from "./answer.js";

function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "string" ? part : part.text || "")).join("");
  return "";
}

/** Replays one stored assistant message (segments, or tool calls then text) into `answer`. */
function replayAssistant(answer, message) {
  const segments = message.segments || message.parts;
  if (Array.isArray(segments)) {
    for (const segment of segments) {
      if (segment.type === "text") answer.text(segment.content ?? segment.text ?? "");
      else replayTool(answer, segment);
    }
    return;
  }
  // The text a model writes in a message comes before the tool calls it makes in it.
  const text = contentText(message.text ?? message.content);
  if (text) answer.text(text);
  for (const call of message.toolCalls || message.tool_calls || []) replayTool(answer, call);
}

function replayTool(answer, call) {
  const tool = call.tool || call.name || (call.function && call.function.name) || "tool";
  const id = call.id || call.callId || call.toolCallId || null;
  answer.toolStart(tool, id);
  answer.toolExecuting(tool, call.args ?? call.arguments ?? (call.function && call.function.arguments), id);
  if ("result" in call || "error" in call || "success" in call) {
    answer.toolResult({ tool, id, result: call.result, success: call.success, error: call.error });
  }
}

/** Appends `messages` to `list`; tool-role messages complete the tool call they answer. */
export function renderHistory(list, messages, { actionCard }) {
  let answer = null;
  for (const message of messages || []) {
    if (message.role === "user") {
      answer = null;
      list.append(createUserMessage(contentText(message.text ?? message.content)));
    } else if (message.role === "assistant") {
      if (!answer) {
        answer = createAnswer({ actionCard });
        list.append(answer.element);
      }
      replayAssistant(answer, message);
      answer.finish();
    } else if (message.role === "tool" && answer) {
      // `ui` is what the chat shows of a result (it keeps __frontendAction); `data` is what the model saw.
      const failed = message.isError === true || message.success === false;
      answer.toolResult({ tool: message.tool || message.name, id: message.callId || message.toolCallId || message.tool_call_id,
        result: message.ui ?? message.data ?? message.result ?? message.text, success: !failed,
        error: failed ? message.error || message.text || "failed" : undefined });
    }
  }
}
