"""A real OpenID provider for tests: `tests/oidc/provider.mjs` (the npm `oidc-provider` package)
run with the machine's Node.js on a free loopback port.

    with start_oidc_provider(accounts=[...], clients=[...]) as idp:
        settings = Settings(auth_issuer=idp.issuer, auth_jwks_url=idp.jwks_url, ...)

or the `oidc_provider` fixture (a factory: call it with the config, it is stopped after the test).
The config keys are documented at the top of provider.mjs. The npm packages are installed from
the lockfile (`npm ci`) the first time, so a clean clone needs nothing installed by hand.
"""
from __future__ import annotations

import base64
import hashlib
import json
import queue
import secrets
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.support import free_port, unavailable

PROVIDER_DIR = Path(__file__).parent / "oidc"
_install_lock = threading.Lock()
READY_TIMEOUT = 60.0  # seconds; it is ready in about one


@dataclass
class Account:
    """Someone who can sign in at the provider; `sub` is a UUID, as orderpay requires."""

    email: str
    name: str = ""
    roles: list[str] = field(default_factory=lambda: ["buyer"])
    password: str | None = None
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))

    def config(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"sub": self.sub, "email": self.email, "name": self.name, "roles": self.roles}
        if self.password is not None:
            entry["password"] = self.password
        return entry


@dataclass
class OidcProvider:
    issuer: str
    process: subprocess.Popen[str]
    config: dict[str, Any]

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    def client_credentials_token(self, client_id: str, client_secret: str, *, resource: str | None = None,
                                 scope: str = "orderpay") -> str:
        """An access token for a confidential client (its `sub` is the client id)."""
        data = {"grant_type": "client_credentials", "scope": scope}
        if resource:
            data["resource"] = resource
        answer = httpx.post(self.token_url, data=data, auth=(client_id, client_secret), timeout=10)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def sign_in(self, *, client_id: str, redirect_uri: str, login: str, password: str = "",
                resource: str | None = None, scope: str = "openid email profile orderpay") -> dict[str, Any]:
        """The authorization code flow with PKCE driven over plain HTTP, as a browser would: fill the
        sign-in form, follow the redirects, exchange the code. Returns the token response."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                  "code_challenge": challenge, "code_challenge_method": "S256", "state": secrets.token_urlsafe(8)}
        if resource:
            params["resource"] = resource
        with httpx.Client(base_url=self.issuer, timeout=10) as browser:
            page = browser.get("/auth", params=params, follow_redirects=True)
            form_action = page.text.split('action="', 1)[1].split('"', 1)[0]
            answer = browser.post(form_action, data={"login": login, "password": password})
            while answer.is_redirect and not str(answer.headers["location"]).startswith(redirect_uri):
                answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
            if not answer.is_redirect:
                raise AssertionError(f"sign-in did not complete: {answer.status_code} {answer.text[:300]}")
            code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
            exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                        "code_verifier": verifier, "client_id": client_id}
            if resource:
                exchange["resource"] = resource
            tokens = browser.post("/token", data=exchange)
            tokens.raise_for_status()
            return tokens.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def npm_ci(directory: Path) -> None:
    """Install `directory`'s npm packages from its lockfile the first time (a clean clone has no
    node_modules); skipped with the reason locally, a failure in CI, when Node.js or npm is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("Node.js and npm are needed for this test")
    with _install_lock:
        if (directory / "node_modules" / ".package-lock.json").exists():
            return
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            unavailable(f"npm ci in {directory} failed: {done.stderr[-500:]}")


def install_provider_packages() -> None:
    npm_ci(PROVIDER_DIR)


def _ready_line(process: subprocess.Popen[str], timeout: float = READY_TIMEOUT) -> str:
    """The provider's ready line. A provider that dies, or that neither serves nor dies within
    `timeout` (a clean clone once hung here with no word), fails the test with its stderr
    instead of hanging the suite."""
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    if line:
        return line
    alive = process.poll() is None
    process.kill()
    process.wait(timeout=10)
    why = f"neither served nor died within {timeout:.0f} s" if alive else f"exited with {process.returncode}"
    raise RuntimeError(f"the test OpenID provider did not start ({why}): {process.stderr.read()[-1000:]}")


@contextmanager
def start_oidc_provider(**config: Any) -> Iterator[OidcProvider]:
    """The provider serving on a free loopback port until the block ends. `accounts` may be
    `Account`s; everything else is passed to provider.mjs as it is."""
    install_provider_packages()
    config = dict(config)
    config.setdefault("port", free_port())
    config["accounts"] = [a.config() if isinstance(a, Account) else a for a in config.get("accounts", [])]
    process = subprocess.Popen(["node", str(PROVIDER_DIR / "provider.mjs"), json.dumps(config)],
                               cwd=PROVIDER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = _ready_line(process)
    provider = OidcProvider(issuer=json.loads(line)["issuer"], process=process, config=config)
    # Drain stderr so the provider never blocks on a full pipe (it warns about Node versions).
    threading.Thread(target=process.stderr.read, daemon=True).start()  # type: ignore[union-attr]
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def oidc_provider() -> Iterator[Callable[..., OidcProvider]]:
    """A factory: `oidc_provider(accounts=[...], clients=[...])` starts one; all stop after the test."""
    started: list[Any] = []

    def start(**config: Any) -> OidcProvider:
        manager = start_oidc_provider(**config)
        provider = manager.__enter__()
        started.append(manager)
        return provider

    yield start
    for manager in reversed(started):
        manager.__exit__(None, None, None)
