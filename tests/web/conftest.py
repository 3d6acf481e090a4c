"""Fixtures of the browser tests: one whole-app server per bundled app (module-wide),
a fresh browser context per test, and screenshots under test-artifacts/."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orderpay import create_server
from tests.conftest import start_server
from tests.support import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
README_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
UPDATE_SHOTS = "ORDERPAY_UPDATE_SCREENSHOTS"


def serve(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, app: str) -> Iterator[LiveServer]:
    # The UI is the subject here: SQLite only (the flow's database behaviour is tested on both backends elsewhere).
    # Many card additions and payments by the same demo users within a minute: lift the card-testing limit.
    yield from start_server(request, tmp_path_factory, "sqlite", app, factory=create_server, demo_data=True,
                            payment_attempts_per_minute=1000)


@pytest.fixture(scope="module")
def airbnb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory, "airbnb")


@pytest.fixture(scope="module")
def clonesahibinden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory, "clonesahibinden")


@pytest.fixture(scope="module", params=["store", "ebaycclone", "clonesahibinden", "airbnb"])
def app_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory, request.param)


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(15000)
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """shot(page, name): a screenshot in test-artifacts/web/<test>-<name>.png."""
    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        safe = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
        path = ARTIFACTS / f"{safe}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


@pytest.fixture
def readme_shot(shot: Any) -> Any:
    """readme_shot(page, name): docs/screenshots/<name>.png, made when missing and remade when
    ORDERPAY_UPDATE_SCREENSHOTS is set (not on every run: they are committed)."""
    def take(page: Any, name: str) -> None:
        target = README_SHOTS / f"{name}.png"
        if os.environ.get(UPDATE_SHOTS) or not target.exists():
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot(page, name), target)
    return take
