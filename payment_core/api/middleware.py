"""ASGI middleware: request ids and access logs, the request body limit, open event streams."""
from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid

from collections.abc import Iterable

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payment_core import metrics
from payment_core.contract import RequestContext, error_body
from payment_core.errors import PayloadTooLarge
from payment_core.logs import redact, request_id_var

log = logging.getLogger("orderpay.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    """Gives each request an id (the client's `X-Request-ID` when well-formed), echoes it
    back, and logs one access line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-request-id")
        request_id = supplied if supplied and _CLIENT_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        context = RequestContext(request_id=request_id)
        scope.setdefault("state", {})["context"] = context
        token = request_id_var.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": redact(scope["path"]),  # a pay link's path is its token
                    "status": status,
                    "durationMs": round((time.perf_counter() - context.started) * 1000, 2),
                    "userId": context.session.user_id if context.session else None,
                },
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413 before anything reads them whole.

    A declared Content-Length is checked up front. A chunked body is counted as it is read;
    when it passes the limit the 413 is sent from here and whatever the app answers after it
    is dropped, because a framework reading the body for a typed parameter (FastAPI) turns any
    error while reading into its own 400.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_413(scope, send, self.max_bytes)
            return
        received = 0
        started = refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started and not refused:
                        await _send_413(scope, send, self.max_bytes)
                        refused = True
                    raise PayloadTooLarge(f"the request body is larger than {self.max_bytes} bytes")
            return message

        try:
            await self.app(scope, counting_receive, guarded_send)
        except PayloadTooLarge:
            if not refused:  # the answer had already begun: nothing better to do than end it
                raise


async def _send_413(scope: Scope, send: Send, limit: int) -> None:
    context = scope.get("state", {}).get("context")
    body = json.dumps(
        error_body(413, f"the request body is larger than {limit} bytes", code="payload_too_large",
                   request_id=context.request_id if context else None)
    ).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class CaseInsensitivePaths:
    """The seeds spell routes both `startorderManagementOrderpayment` and `startordermanagementorderpayment`.

    A path whose literal segments match a route template in any case is rewritten to the
    template's spelling before routing; path parameters (ids) keep their own case.
    """

    def __init__(self, app: ASGIApp, templates: Iterable[str]) -> None:
        self.app = app
        self.routes = []
        for template in dict.fromkeys(templates):
            regex, path_format, _ = compile_path(template)
            self.routes.append((re.compile(regex.pattern, re.IGNORECASE), path_format))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for regex, path_format in self.routes:
                match = regex.match(path)
                if match:
                    canonical = path_format.format(**match.groupdict())
                    if canonical != path:
                        scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
                    break
        await self.app(scope, receive, send)


class EventStreamsMiddleware:
    """Counts the server-sent event streams open right now (`metrics.sse_stream`): any response
    whose content type is `text/event-stream`, whichever route (chat, AI SDK, AG-UI) serves it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stream: contextlib.ExitStack = contextlib.ExitStack()

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start" and any(
                    name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                    for name, value in message.get("headers", [])):
                stream.enter_context(metrics.sse_stream())
            await send(message)

        with stream:  # left when the response ends, the client goes away or the app fails
            await self.app(scope, receive, watching_send)
