// Drives orderpay with the real client packages a frontend is built with, and prints what they
// made of it as one JSON line: the `ai` package (DefaultChatTransport + readUIMessageStream, what
// useChat runs), @ag-ui/client's HttpAgent, and the official MCP TypeScript client.
//
//   node drive.mjs '<json command>'     (see the functions below; tests/frontends/test_*.py run it)
import { DefaultChatTransport, readUIMessageStream } from "ai";
import { HttpAgent } from "@ag-ui/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const command = JSON.parse(process.argv[2]);
const auth = { Authorization: `Bearer ${command.token}` };

function transport() {
  return new DefaultChatTransport({ api: `${command.baseUrl}/api/ai-sdk/chat`, headers: auth });
}

// Reads a UI message chunk stream the way useChat does, keeping the chunks' types as well,
// and each state the data-payment part went through.
async function readMessage(stream, onChunk) {
  const [raw, forUi] = stream.tee();
  const chunks = [];
  const watching = (async () => {
    const reader = raw.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      chunks.push(value);
      if (onChunk) await onChunk(value);
    }
  })();
  let message = null;
  const paymentStates = [];
  for await (const snapshot of readUIMessageStream({ stream: forUi, terminateOnError: false })) {
    message = snapshot;
    const payment = snapshot.parts.find((part) => part.type === "data-payment");
    if (payment && paymentStates.at(-1) !== payment.data.status) paymentStates.push(payment.data.status);
  }
  await watching;
  return { chunks, message, paymentStates };
}

function userMessage(text) {
  return { id: `u-${Date.now()}`, role: "user", parts: [{ type: "text", text }] };
}

const commands = {
  // A whole turn through DefaultChatTransport.sendMessages, as useChat sends it.
  async aiTurn() {
    const stream = await transport().sendMessages({
      chatId: command.chatId, messages: [userMessage(command.text)], trigger: "submit-message",
      messageId: undefined, abortSignal: new AbortController().signal,
    });
    return readMessage(stream);
  },

  // useChat's resumeStream(): reconnectToStream answers null on 204.
  async aiResume() {
    const stream = await transport().reconnectToStream({ chatId: command.chatId });
    if (stream === null) return { resumed: false };
    return { resumed: true, ...(await readMessage(stream)) };
  },

  // Starts a turn, drops it after the first text (as a page reload would), then resumes it.
  async aiDropAndResume() {
    const controller = new AbortController();
    const stream = await transport().sendMessages({
      chatId: command.chatId, messages: [userMessage(command.text)], trigger: "submit-message",
      messageId: undefined, abortSignal: controller.signal,
    });
    const reader = stream.getReader();
    const before = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      before.push(value);
      if (value.type === "text-delta") break;
    }
    controller.abort();
    await reader.cancel().catch(() => {});
    const stream2 = await transport().reconnectToStream({ chatId: command.chatId });
    if (stream2 === null) return { before, resumed: false };
    return { before, resumed: true, ...(await readMessage(stream2)) };
  },

  // Stop, as a useChat app wires it: POST the turn's stop endpoint (the turnId is in the start
  // chunk's metadata), and see the stream end.
  async aiStop() {
    const stream = await transport().sendMessages({
      chatId: command.chatId, messages: [userMessage(command.text)], trigger: "submit-message",
      messageId: undefined, abortSignal: new AbortController().signal,
    });
    let turnId = null;
    let stoppedAt = null;
    let stopAnswer = null;
    const result = await readMessage(stream, async (chunk) => {
      if (chunk.type === "start") turnId = chunk.messageMetadata.turnId;
      if (chunk.type === "text-delta" && stoppedAt === null) {
        stoppedAt = performance.now();
        const response = await fetch(`${command.baseUrl}/api/chat/turns/${turnId}/stop`, { method: "POST", headers: auth });
        stopAnswer = { status: response.status, body: await response.json() };
      }
    });
    return { ...result, turnId, stopAnswer, msFromStopToEnd: performance.now() - stoppedAt };
  },

  // A run through @ag-ui/client's HttpAgent.
  async agUiRun() {
    const agent = new HttpAgent({ url: `${command.baseUrl}/api/ag-ui`, headers: auth, threadId: command.threadId });
    agent.addMessage({ id: `u-${Date.now()}`, role: "user", content: command.text });
    const events = [];
    const result = await agent.runAgent({ runId: command.runId }, { onEvent({ event }) { events.push(event); } });
    return { events, result: result.result, newMessages: result.newMessages, messages: agent.messages, state: agent.state };
  },

  // tools/list through the official MCP client (which also opens, and must cope with, GET /mcp).
  async mcpTools() {
    const client = new Client({ name: "orderpay-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${command.baseUrl}/mcp`), { requestInit: { headers: auth } }));
    const { tools } = await client.listTools();
    const resource = await client.readResource({ uri: command.resourceUri });
    await client.close();
    return { tools, resource };
  },
};

const output = await commands[command.run]();
process.stdout.write(JSON.stringify(output) + "\n");
