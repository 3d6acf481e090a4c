"""The floor under a streamed chat turn: a bare sse-starlette endpoint that sends, at once, the
events one real turn sent (read from BENCH_SSE_EVENTS: a JSON list of {event, id, data}). No auth,
no storage, no model, no tools: what any SSE endpoint costs to get its first event out."""
from __future__ import annotations

import gc
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from sse_starlette import EventSourceResponse, ServerSentEvent

app = FastAPI()
EVENTS = json.loads(Path(os.environ["BENCH_SSE_EVENTS"]).read_text()) if "BENCH_SSE_EVENTS" in os.environ else []

# The collector set up as `orderpay serve` sets it (orderpay.settle_heap): the ratio compares the
# endpoints' work, not the interpreter's settings.
gc.collect()
gc.freeze()
gc.set_threshold(10_000, 10, 10)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/chat/stream")
async def stream() -> EventSourceResponse:
    async def frames() -> AsyncIterator[ServerSentEvent]:
        for event in EVENTS:
            yield ServerSentEvent(data=event["data"], event=event["event"], id=event["id"])

    return EventSourceResponse(frames(), ping=15)
