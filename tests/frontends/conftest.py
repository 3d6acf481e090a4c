"""Fixtures of the frontend protocol tests: the whole system chatting through the scripted
OpenAI-speaking model of the chat backend tests, and the npm client packages of
`tests/frontends/package.json`, installed here by `npm ci` when they are missing."""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bff.settings import ChatSettings
from tests.bff.conftest import FAST, model, openai_model, run_chat_server  # noqa: F401 (fixtures)
from tests.support import LiveServer, unavailable

HERE = Path(__file__).resolve().parent
NODE_MAJOR = 20


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """tests/frontends with its node_modules (npm ci from the lockfile when missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("Node.js and npm are needed to drive the real frontend client packages")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < NODE_MAJOR:
        unavailable(f"Node.js {NODE_MAJOR}+ is needed, found {version}")
    if not (HERE / "node_modules" / "ai" / "package.json").exists():
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True,
                                   timeout=600)
        if installed.returncode != 0:
            unavailable(f"npm ci failed in {HERE}: {installed.stderr[-2000:]}")
    return HERE


def drive(clients: Path, server: LiveServer, user: str, run: str, **arguments: Any) -> dict[str, Any]:
    """Run one of drive.mjs's commands against `server` as `user`; what the client package made of it."""
    command = {"run": run, "baseUrl": server.base_url, "token": server.token(user), **arguments}
    done = subprocess.run(["node", "drive.mjs", json.dumps(command)], cwd=clients, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"node drive.mjs {run} failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def chat_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str,
                openai_model: tuple[Any, str]) -> Iterator[LiveServer]:  # noqa: F811
    """The store app chatting with the scripted model; running turns read a prepared payment's
    status every 0.2 s."""
    chat = ChatSettings(chat_provider="openai", openai_base_url=openai_model[1], openai_api_key="sk-test-key",
                        openai_model="scripted", chat_payment_watch_seconds=0.2, **FAST)
    yield from run_chat_server(request, tmp_path_factory, backend, "store", chat)
