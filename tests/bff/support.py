"""Helpers of the chat backend tests: SSE read off real HTTP responses, and local servers that
speak the OpenAI and Anthropic streaming wire formats, playing a script and recording what
they were sent."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import free_port, start_uvicorn


# -- SSE ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    id: str | None
    event: str
    data: dict[str, Any]


@dataclass
class Stream:
    status: int
    content_type: str
    frames: list[Frame]
    comments: int  # keep-alive comment lines

    @property
    def names(self) -> list[str]:
        return [frame.event for frame in self.frames]

    def first(self, event: str) -> Frame:
        return next(frame for frame in self.frames if frame.event == event)

    def all(self, event: str) -> list[Frame]:
        return [frame for frame in self.frames if frame.event == event]

    @property
    def text(self) -> str:
        return "".join(frame.data["content"] for frame in self.all("text"))


def read_frames(lines: Iterable[str]) -> Iterator[Frame | None]:
    """SSE frames as the spec parses them; None for each comment line."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield None
        elif line == "":
            if "data" in fields:
                yield Frame(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))
            fields = {}
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value


def stream_turn(client: httpx.Client, message: str | None, *, conversation_id: str | None = None,
                last_event_id: str | None = None, stop_after: int | None = None) -> Stream:
    """POST /api/chat/stream and read it to its end (or drop the connection after `stop_after` frames)."""
    body: dict[str, Any] | None = None
    if message is not None:
        body = {"message": message, **({"conversationId": conversation_id} if conversation_id else {})}
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    frames: list[Frame] = []
    comments = 0
    with client.stream("POST", "/api/chat/stream", json=body, headers=headers) as response:
        if response.status_code == 204:  # SSE's "stop reconnecting": nothing left of that turn
            response.read()
            return Stream(204, "", [], 0)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()
            return Stream(response.status_code, response.headers.get("content-type", ""),
                          [Frame(None, "http-error", response.json())], 0)
        for frame in read_frames(response.iter_lines()):
            if frame is None:
                comments += 1
                continue
            frames.append(frame)
            if stop_after is not None and len(frames) >= stop_after:
                break  # leaving the block closes the connection mid-stream
        return Stream(response.status_code, response.headers["content-type"], frames, comments)


# -- servers in threads ------------------------------------------------------------------------

@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Any ASGI app under uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server, thread = start_uvicorn(app, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# -- scripted models ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Fail:
    """An HTTP error status before streaming, or (`mid_stream`) an error event inside the stream."""

    status: int = 500
    mid_stream: bool = False


@dataclass(frozen=True)
class Until:
    """Hold the stream until `done()` is true (checked every 20 ms; at most `timeout` seconds):
    what the model is doing while something else happens, such as the buyer paying."""

    done: Callable[[], bool]
    timeout: float = 20.0


Step = Say | Call | Pause | Until | Fail


@dataclass
class ScriptedModel:
    """Answers each model request with the next reply of its script (a list of steps) and keeps
    every request body it received. Out of script, it says "OK"."""

    replies: list[list[Step]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    disconnects: int = 0  # streams the client closed before their end

    def next_reply(self, request: Request, body: dict[str, Any]) -> list[Step]:
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        return self.replies.pop(0) if self.replies else [Say("OK")]

    def sent_text(self) -> str:
        """Everything the model was sent, as one string, to search for what must not be there."""
        return json.dumps(self.requests) + json.dumps(self.headers)


async def _play(model: ScriptedModel, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for frame in frames:
            yield frame
    except asyncio.CancelledError:
        model.disconnects += 1
        raise


async def _until(step: Until) -> None:
    deadline = asyncio.get_running_loop().time() + step.timeout
    while not step.done() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


def _error_response(status: int) -> Response:
    return JSONResponse({"error": {"type": "server_error", "message": "scripted failure"}}, status)


def openai_app(model: ScriptedModel) -> Starlette:
    """`POST /v1/chat/completions` streaming chat completion chunks, as OpenAI does."""

    async def completions(request: Request) -> Response:
        body = await request.json()
        reply = model.next_reply(request, body)
        if reply and isinstance(reply[0], Fail) and not reply[0].mid_stream:
            return _error_response(reply[0].status)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(data)}\n\n".encode()

        async def frames() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            calls = 0
            for step in reply:
                if isinstance(step, Say):
                    for word in step.text.split(" "):  # several deltas, as a model streams
                        yield chunk({"content": word + " " if word != step.text.split(" ")[-1] else word})
                elif isinstance(step, Call):
                    arguments = json.dumps(step.arguments)
                    head = {"index": calls, "id": f"call_{len(model.requests)}_{calls}", "type": "function",
                            "function": {"name": step.name, "arguments": ""}}
                    yield chunk({"tool_calls": [head]})
                    for start in range(0, len(arguments), 7):
                        yield chunk({"tool_calls": [{"index": calls, "function": {"arguments": arguments[start:start + 7]}}]})
                    calls += 1
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Until):
                    await _until(step)
                elif isinstance(step, Fail):
                    yield f"data: {json.dumps({'error': {'message': 'scripted failure', 'type': 'server_error'}})}\n\n".encode()
                    return
            yield chunk({}, "tool_calls" if calls else "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(_play(model, frames()), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def anthropic_app(model: ScriptedModel) -> Starlette:
    """`POST /v1/messages` streaming Messages API events, as Anthropic does."""

    async def messages(request: Request) -> Response:
        body = await request.json()
        reply = model.next_reply(request, body)
        if reply and isinstance(reply[0], Fail) and not reply[0].mid_stream:
            return _error_response(reply[0].status)

        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

        async def frames() -> AsyncIterator[bytes]:
            yield event("message_start", {"message": {
                "id": "msg_test", "type": "message", "role": "assistant", "content": [], "model": body["model"],
                "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}})
            index, used_tool = 0, False
            for step in reply:
                if isinstance(step, Say):
                    yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                    for word in step.text.split(" "):
                        piece = word + " " if word != step.text.split(" ")[-1] else word
                        yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
                    yield event("content_block_stop", {"index": index})
                    index += 1
                elif isinstance(step, Call):
                    used_tool = True
                    block = {"type": "tool_use", "id": f"toolu_{len(model.requests)}_{index}", "name": step.name,
                             "input": {}}
                    yield event("content_block_start", {"index": index, "content_block": block})
                    arguments = json.dumps(step.arguments)
                    for start in range(0, len(arguments), 7):
                        yield event("content_block_delta", {"index": index, "delta": {
                            "type": "input_json_delta", "partial_json": arguments[start:start + 7]}})
                    yield event("content_block_stop", {"index": index})
                    index += 1
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Until):
                    await _until(step)
                elif isinstance(step, Fail):
                    yield event("error", {"error": {"type": "overloaded_error", "message": "scripted failure"}})
                    return
            yield event("message_delta", {"delta": {"stop_reason": "tool_use" if used_tool else "end_turn",
                                                    "stop_sequence": None}, "usage": {"output_tokens": 5}})
            yield event("message_stop", {})

        return StreamingResponse(_play(model, frames()), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


# -- orders ------------------------------------------------------------------------------------

def new_order(server: Any, username: str, index: int = 0) -> dict[str, Any]:
    """Create an order of the app's first order object over REST, from its `index`th demo record."""
    from payment_core.spec import load_app

    service, obj = load_app(server.settings.app).spec.order_objects()[0]
    with server.client(username) as client:
        created = client.post(f"{service.route_prefix}/v1/{obj.plural.lower()}", json=dict(obj.demoRecords[index].values))
    assert created.status_code == 201, created.text
    return created.json()[obj.name]


def pay_in_the_trusted_ui(server: Any, username: str, order_id: str) -> None:
    """What the buyer's own click on Pay does: save a card and start the payment over REST."""
    from payment_core.spec import load_app

    service, obj = load_app(server.settings.app).spec.order_objects()[0]
    with server.client(username) as client:
        card = client.post(f"{service.route_prefix}/payment-methods/add", json={"paymentMethodId": "pm_card_visa"})
        assert card.status_code == 200, card.text
        paid = client.patch(f"{service.route_prefix}/v1/start{obj.name.lower()}payment/{order_id}",
                            json={"paymentUserParams": {"paymentMethodId": card.json()["paymentMethodId"]}})
        assert paid.status_code == 200 and paid.json()[obj.name]["_paymentConfirmation"] == "paid", paid.text


def collapsed(names: list[str]) -> list[str]:
    """Event names with repeats of one name in a row written once: the stream's shape."""
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]
