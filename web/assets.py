"""The UI's own scripts and style sheet, served from this package at `/ui/...`.

The files are listed once at start-up: a request can only ever name one of them,
so no path from the URL reaches the file system.
"""
from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import Response

from payment_core.stripe_setup import StripeSetup
from web.headers import page_headers

ASSET_PREFIX = "/ui"
STATIC = resources.files("web") / "static"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def _files(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            found.update(_files(entry, f"{prefix}{entry.name}/"))
        elif any(entry.name.endswith(suffix) for suffix in MEDIA_TYPES):
            found[prefix + entry.name] = entry
    return found


def asset_router(stripe: StripeSetup) -> APIRouter:
    files = _files(STATIC)
    headers = page_headers(stripe)
    router = APIRouter(prefix=ASSET_PREFIX, include_in_schema=False)

    @router.get("/{name:path}")
    async def asset(name: str) -> Response:
        entry = files.get(name)
        if entry is None:
            return Response("Not found", status_code=404, media_type="text/plain", headers=headers)
        media_type = MEDIA_TYPES[name[name.rindex("."):]]
        return Response(entry.read_bytes(), media_type=media_type, headers=headers)

    return router
