"""Test helpers: orderpay as the composition root builds it — served on a free loopback port
(`LiveServer`, real HTTP) or reached in process (`InProcessApp` through Starlette's test client,
`RunningApp` in the test's own event loop) — and PostgreSQL set-up."""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
import httpx2
import pytest
import uvicorn
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from orderpay import build_runtime, create_rest_server, create_server
from cryptography.hazmat.primitives.asymmetric import rsa

from payment_core.db import Database, create_database, create_schema
from payment_core.identity import DevTokenIssuer, Session, SigningKey, find_demo_user
from payment_core.runtime import Runtime
from payment_core.sandbox import SandboxConfig
from payment_core.settings import Settings

T = TypeVar("T")
AppFactory = Callable[[Settings], Any]
POSTGRES_URL = os.environ.get(
    "ORDERPAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/orderpay_test"
)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous test code, in a thread of its own:
    the main thread may already be running an event loop (Playwright's sync API keeps one)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def start_uvicorn(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """An ASGI app under uvicorn in a thread of this process, on loopback; returns once it serves."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return server, thread


def unavailable(reason: str) -> NoReturn:
    """A service or tool the tests need is missing: skipped with the reason on a developer's
    machine, a failure in CI (CI=true), which must run everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _admin_connection(url: str):  # type: ignore[no-untyped-def]
    import asyncpg

    parsed = make_url(url)
    return await asyncpg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                 password=parsed.password, database="postgres", timeout=5)


async def _prepare_postgres(url: str) -> None:
    """Create the URL's database if it does not exist."""
    admin = await _admin_connection(url)
    try:
        name = make_url(url).database
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_postgres(url: str) -> None:
    admin = await _admin_connection(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


def session_postgres_url() -> str:
    """A database of this test run's own, so that runs side by side do not share tables."""
    parsed = make_url(POSTGRES_URL)
    return parsed.set(database=f"{parsed.database}_{os.getpid()}").render_as_string(hide_password=False)


def prepare_postgres(url: str) -> None:
    run_async(_prepare_postgres(url))


def postgres_problem(url: str) -> str | None:
    """None when the test PostgreSQL answers (creating the database if needed), else why not."""
    try:
        prepare_postgres(url)
    except Exception as exc:  # unreachable server, refused login, ...
        return f"PostgreSQL at {POSTGRES_URL} is not usable: {exc}"
    return None


def drop_postgres(url: str) -> None:
    run_async(_drop_postgres(url))


def with_tables(url: str, metadata: MetaData, scenario: Callable[[Database], Awaitable[T]]) -> T:
    """Runs `scenario` on `metadata`'s tables created afresh (dropped first) in the database at
    `url`, all in one event loop (pooled connections belong to their loop)."""
    async def run() -> T:
        db = create_database(url)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)
            await create_schema(db.engine, metadata)
            return await asyncio.wait_for(scenario(db), 30)
        finally:
            await db.dispose()

    return run_async(run())


def database_of_its_own(request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Iterator[str]:
    """For a fixture parametrized by backend: an empty database of the test's own, a SQLite file
    or a PostgreSQL database `<run's database>_<name>`, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        return
    base = make_url(request.getfixturevalue("postgres_url"))
    url = base.set(database=f"{base.database}_{name}").render_as_string(hide_password=False)
    drop_postgres(url)  # one a killed run left behind
    prepare_postgres(url)
    yield url
    drop_postgres(url)


async def drop_app_tables(settings: Settings) -> None:
    runtime = build_runtime(settings)
    try:
        async with runtime.engine.begin() as conn:
            await conn.run_sync(runtime.metadata.drop_all)
    finally:
        await runtime.close()


class ComposedApp:
    """What every way of reaching orderpay in a test shares: the app the composition root built
    (`orderpay.create_rest_server` or `create_server`) and its settings."""

    settings: Settings
    app: Any

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime

    @property
    def sandbox(self) -> SandboxConfig | None:
        """The config of the sandbox served at /stripe-sandbox when it plays Stripe (tests may shrink its delays)."""
        return self.app.state.sandbox

    def token(self, username: str, **kwargs: Any) -> str:
        user = find_demo_user(username)
        assert user is not None and self.runtime.issuer is not None
        return self.runtime.issuer.issue(user, **kwargs)

    def session(self, username: str) -> Session:
        return self.runtime.verifier.verify(self.token(username))

    def headers(self, username: str | None, headers: dict[str, str] | None = None) -> dict[str, str]:
        """`username`'s bearer token (none without one), then `headers`."""
        return {**({"Authorization": f"Bearer {self.token(username)}"} if username else {}), **(headers or {})}


@dataclass
class LiveServer(ComposedApp):
    """orderpay served by uvicorn in a background thread, reached over real HTTP: for tests of the
    transport, SSE, browsers, other processes, and of anything that calls Stripe (the gateway reaches
    the embedded sandbox, and the sandbox the webhook routes, over HTTP at the public URL)."""

    settings: Settings
    factory: AppFactory
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    base_url: str

    @classmethod
    def start(cls, settings: Settings, factory: AppFactory = create_rest_server) -> LiveServer:
        """`factory` builds the app as the composition root does: `orderpay.create_rest_server` (the
        REST API and the embedded sandbox) by default, `orderpay.create_server` for all of it."""
        port = free_port()
        settings = settings.model_copy(update={"port": port})
        app = factory(settings)
        server, thread = start_uvicorn(app, port)
        return cls(settings, factory, app, server, thread, f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, username: str | None = None, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers(username, headers), timeout=30, **kwargs)


@dataclass
class InProcessApp(ComposedApp):
    """orderpay built as for `LiveServer`, its lifespan running in Starlette's test client: each request
    goes through the whole ASGI app, middleware included, in process and without a socket. For sync
    tests whose subject is not the transport and that make no Stripe call. The public URL names a
    free port where nothing listens, so a stray outbound call fails rather than reaching a stranger."""

    settings: Settings
    app: Any
    test_client: TestClient
    base_url: str

    @classmethod
    def start(cls, settings: Settings, factory: AppFactory = create_rest_server) -> InProcessApp:
        settings = settings.model_copy(update={"port": free_port()})
        app = factory(settings)
        base_url = settings.resolved_public_url()
        # From loopback, as a local client reaches `LiveServer` (loopback-only routes such as /metrics answer).
        test_client = TestClient(app, base_url=base_url, client=("127.0.0.1", 50000), follow_redirects=False)
        test_client.__enter__()  # the app's lifespan, in the test client's event loop thread
        return cls(settings, app, test_client, base_url)

    def stop(self) -> None:
        self.test_client.__exit__(None, None, None)

    def client(self, username: str | None = None, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx2.Client:
        """A client of its own (headers, cookies) whose requests run in the app's event loop, through
        the test client's transport (Starlette's test client is built on httpx2, httpx's successor)."""
        return httpx2.Client(base_url=self.base_url, headers=self.headers(username, headers),
                             transport=self.test_client._transport, **kwargs)  # pyright: ignore[reportPrivateUsage]


@dataclass
class RunningApp(ComposedApp):
    """orderpay built as for `LiveServer`, its lifespan entered in the test's own event loop and never
    served on a port: async tests reach it in process (the MCP SDK's in-memory client through
    `mcp_server.inproc`). For tests whose subject is not the transport and that make no Stripe call."""

    settings: Settings
    app: Any

    @classmethod
    @asynccontextmanager
    async def start(cls, settings: Settings, factory: AppFactory = create_server) -> AsyncIterator[RunningApp]:
        settings = settings.model_copy(update={"port": free_port()})
        app = factory(settings)
        async with app.router.lifespan_context(app):
            yield cls(settings, app)


def untrusted_token(username: str = "alice") -> str:
    """A well-formed token with a demo user's claims, signed by a key the server does not trust."""
    key = SigningKey.from_private_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    user = find_demo_user(username)
    assert user is not None
    return DevTokenIssuer(key, "orderpay-dev", "orderpay").issue(user)
