"""Shared fixtures. Tests that touch the database run on SQLite and on PostgreSQL.

PostgreSQL comes from ORDERPAY_TEST_POSTGRES_URL (default: the local server's
`orderpay_test` database); each test run works in a database of its own named after
it (`orderpay_test_<pid>`), created on demand and dropped at the end. Without a reachable server the
PostgreSQL half is skipped with the reason — except in CI (CI=true), where it is
required and its absence fails the run.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orderpay import create_rest_server
from payment_core.settings import Settings
from payment_core.spec import BUNDLED_APPS
from tests.support import (AppFactory, InProcessApp, LiveServer, drop_app_tables, drop_postgres, postgres_problem,
                           run_async, session_postgres_url, unavailable)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = session_postgres_url()
    problem = postgres_problem(url)
    if problem:
        unavailable(problem)
    yield url
    drop_postgres(url)


NATS_URL = os.environ.get("ORDERPAY_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture(scope="session")
def nats_url() -> str:
    """NATS with JetStream; skipped with the reason when absent, except in CI where it is required."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(NATS_URL)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 4222), timeout=2).close()
    except OSError as exc:
        unavailable(f"NATS at {NATS_URL} is not reachable: {exc}")
    return NATS_URL


def make_settings(request: pytest.FixtureRequest, backend: str, app: str, data_dir: Path, **overrides: object) -> Settings:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    settings = Settings(app=app, data_dir=data_dir, database_url=database_url, log_json=False, **overrides)
    if backend == "postgres":
        run_async(drop_app_tables(settings))
    return settings


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module", params=BUNDLED_APPS)
def app_name(request: pytest.FixtureRequest) -> str:
    """Each bundled app in turn, for the tests that take it."""
    return request.param


def start_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                 app: str, *, factory: AppFactory = create_rest_server, reached: type[LiveServer] | type[InProcessApp] = LiveServer,
                 **overrides: object) -> Iterator[Any]:
    """`factory`'s app on `backend`, `reached` over real HTTP (`LiveServer`) or in process (`InProcessApp`)."""
    settings = make_settings(request, backend, app, tmp_path_factory.mktemp(f"{Path(app).stem}-{backend}"), **overrides)
    server = reached.start(settings, factory)
    try:
        yield server
    finally:
        server.stop()


CHROMIUM = os.environ.get("ORDERPAY_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser). Required in CI."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()
