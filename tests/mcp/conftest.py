"""Fixtures of the MCP tests: real orderpay servers, built as `orderpay serve` builds them (`/mcp` included)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import start_server
from orderpay import create_server
from tests.support import LiveServer


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
           app_name: str) -> Iterator[LiveServer]:
    """Each bundled app on SQLite and PostgreSQL, without demo data: tests make their own orders."""
    yield from start_server(request, tmp_path_factory, backend, app_name, demo_data=False, factory=create_server)


@pytest.fixture(scope="module")
def airbnb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One app on SQLite, with demo data, for the tests that are about the transport rather than the store."""
    yield from start_server(request, tmp_path_factory, "sqlite", "airbnb", factory=create_server)
