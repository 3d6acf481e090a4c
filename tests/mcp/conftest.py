"""Fixtures of the MCP tests: orderpay built as `orderpay serve` builds it (`/mcp` included), served
on a port (`server`, `airbnb`) where the transport is under test, or running in process (`system`)
where only the tools are."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import make_settings, start_server
from orderpay import create_server
from tests.support import LiveServer, RunningApp


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """One event loop per module, so that a module's `system` runs in the loop its tests run in."""
    return "asyncio"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           app_name: str) -> Iterator[LiveServer]:
    """Each bundled app on SQLite and PostgreSQL, without demo data: tests make their own orders."""
    yield from start_server(request, tmp_path_factory, backend, app_name, demo_data=False, factory=create_server)


@pytest.fixture(scope="module")
async def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                 app_name: str) -> AsyncIterator[RunningApp]:
    """`server`'s composition with no port: its MCP server reached in memory, as the chat backend reaches it."""
    settings = make_settings(request, backend, app_name, tmp_path_factory.mktemp(f"{app_name}-{backend}"), demo_data=False)
    async with RunningApp.start(settings, factory=create_server) as running:
        yield running


@pytest.fixture(scope="module")
def airbnb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One app on SQLite, with demo data, for the tests that are about the transport rather than the store."""
    yield from start_server(request, tmp_path_factory, "sqlite", "airbnb", factory=create_server)
