"""Fixtures of the chat backend tests: the whole system (`orderpay.create_server`) served
over real HTTP, on SQLite and PostgreSQL, with the offline assistant or with a local server
speaking a model provider's wire format."""
from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from orderpay import create_server
from bff.settings import ChatSettings
from tests.bff.support import ScriptedModel, anthropic_app, openai_app, serving
from tests.conftest import start_server
from tests.support import LiveServer

# The resume grace period leaves a reconnect to another replica time even on a loaded machine.
FAST = {"chat_keepalive_seconds": 0.2, "chat_provider_retries": 0, "chat_provider_timeout_seconds": 10,
        "chat_resume_grace_seconds": 1.5}


def run_chat_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                    app: str, chat: ChatSettings, **overrides: object) -> Iterator[LiveServer]:
    """The whole system (`orderpay.create_server`) with these chat settings."""
    yield from start_server(request, tmp_path_factory, backend, app, factory=partial(create_server, chat=chat),
                            **overrides)


@pytest.fixture(scope="module")
def openai_model() -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel()
    with serving(openai_app(model)) as url:
        yield model, f"{url}/v1"


@pytest.fixture(scope="module")
def anthropic_model() -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel()
    with serving(anthropic_app(model)) as url:
        yield model, url


def emptied(scripted: ScriptedModel) -> ScriptedModel:
    """`scripted` with its script and records emptied, for a test of its own."""
    scripted.replies.clear()
    scripted.requests.clear()
    scripted.headers.clear()
    scripted.disconnects = 0
    return scripted


@pytest.fixture
def model(openai_model: tuple[ScriptedModel, str]) -> ScriptedModel:
    """The OpenAI-speaking model, its script and records emptied for this test."""
    return emptied(openai_model[0])


@pytest.fixture
def claude(anthropic_model: tuple[ScriptedModel, str]) -> ScriptedModel:
    """The Anthropic-speaking model, its script and records emptied for this test."""
    return emptied(anthropic_model[0])


@pytest.fixture(scope="module")
def openai_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                  openai_model: tuple[ScriptedModel, str]) -> Iterator[LiveServer]:
    """The store app chatting through the OpenAI SDK with the scripted model, on both databases."""
    chat = ChatSettings(chat_provider="openai", openai_base_url=openai_model[1], openai_api_key="sk-test-key",
                        openai_model="scripted", **FAST)
    yield from run_chat_server(request, tmp_path_factory, backend, "store", chat)
