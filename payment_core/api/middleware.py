"""The one ASGI middleware every HTTP request passes: its id and access line, the request body
limit, the route's spelling, and the count of open event streams.

One pure-ASGI layer, one wrapper around `send`: each layer of middleware wraps every message of
every response again, and the REST GET is short enough for that to show.
"""
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
from payment_core.logs import request_id_var

log = logging.getLogger("orderpay.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestMiddleware:
    """For each HTTP request:

    - gives it an id (the client's `X-Request-ID` when well-formed), echoed back, and logs one
      access line (redacted, as every line, by `payment_core.logs`: a pay link's path is its token);
    - refuses a body over `max_bytes` with 413 before anything reads it whole: a declared
      Content-Length up front (the server holds the body to it), a chunked body as it is read — when
      that passes the limit the 413 is sent from here and whatever the app answers after it is
      dropped, because a framework reading the body for a typed parameter (FastAPI) turns any error
      while reading into its own 400;
    - rewrites a path whose literal segments match a route template in another case to the
      template's spelling (the seeds spell routes both `startorderManagementOrderpayment` and
      `startordermanagementorderpayment`); path parameters (ids) keep their own case;
    - counts the server-sent event streams open right now (`metrics.sse_stream`): any response whose
      content type is `text/event-stream`, whichever route serves it.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, templates: Iterable[str]) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.spellings = RouteSpellings(templates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = declared = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                supplied = value.decode("latin-1")
            elif key == b"content-length":
                declared = value.decode("latin-1")
        request_id = supplied if supplied and _CLIENT_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        context = RequestContext(request_id=request_id)
        scope.setdefault("state", {})["context"] = context
        token = request_id_var.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        started = refused = False
        stream = contextlib.ExitStack()

        async def guarded_send(message: Message) -> None:
            nonlocal status, started
            if refused:
                return  # the 413 was the answer
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = message.setdefault("headers", [])
                if any(name.lower() == b"content-type" and value.startswith(b"text/event-stream") for name, value in headers):
                    stream.enter_context(metrics.sse_stream())
                headers.append(id_header)
            await send(message)

        try:
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
                await _send_413(context, guarded_send, self.max_bytes)
                return
            app_receive = receive
            if declared is None:  # chunked: counted as it is read
                received = 0

                async def app_receive() -> Message:
                    nonlocal received, refused
                    message = await receive()
                    if message["type"] == "http.request":
                        received += len(message.get("body", b""))
                        if received > self.max_bytes:
                            if not started and not refused:
                                await _send_413(context, guarded_send, self.max_bytes)
                                refused = True
                            raise PayloadTooLarge(f"the request body is larger than {self.max_bytes} bytes")
                    return message

            path = scope["path"]
            canonical = self.spellings.canonical(path)
            if canonical != path:
                scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
            with stream:  # left when the response ends, the client goes away or the app fails
                await self.app(scope, app_receive, guarded_send)
        except PayloadTooLarge:
            if not refused:  # the answer had already begun: nothing better to do than end it
                raise
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info("request", extra={
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "durationMs": round((time.perf_counter() - context.started) * 1000, 2),
                    "userId": context.session.user_id if context.session else None,
                })
            request_id_var.reset(token)


async def _send_413(context: RequestContext, send: Send, limit: int) -> None:
    body = json.dumps(
        error_body(413, f"the request body is larger than {limit} bytes", code="payload_too_large",
                   request_id=context.request_id)
    ).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RouteSpellings:
    """The route templates' spelling of a path whose literal segments match one in any case.

    Templates are grouped by their first segment (lower-cased), so a path is tried against its
    own service's templates only; those starting with a parameter are tried for every path.
    """

    def __init__(self, templates: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[re.Pattern[str], str]]] = {}
        self._any_first: list[tuple[re.Pattern[str], str]] = []
        for template in dict.fromkeys(templates):
            regex, path_format, _ = compile_path(template)
            entry = (re.compile(regex.pattern, re.IGNORECASE), path_format)
            first = _first_segment(template)
            if "{" in first:
                self._any_first.append(entry)
            else:
                self._by_first.setdefault(first.lower(), []).append(entry)

    def canonical(self, path: str) -> str:
        for regex, path_format in (*self._by_first.get(_first_segment(path).lower(), ()), *self._any_first):
            match = regex.match(path)
            if match:
                return path_format.format(**match.groupdict())
        return path


def _first_segment(path: str) -> str:
    return path.split("/", 2)[1] if path.startswith("/") else path
