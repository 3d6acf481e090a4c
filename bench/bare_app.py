"""The baseline: a bare FastAPI endpoint answering a fixed JSON body (read from BENCH_BODY_FILE)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
BODY = json.loads(Path(os.environ["BENCH_BODY_FILE"]).read_text()) if "BENCH_BODY_FILE" in os.environ else {}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/orders/{order_id}")
async def get_order(order_id: str) -> JSONResponse:
    return JSONResponse(BODY)
