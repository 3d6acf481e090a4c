"""Configuration of the Stripe sandbox: where state lives, which keys it accepts, where webhooks go."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from payment_core.files import private_file, write_private


def _random(length: int) -> str:
    # Letters and digits only, as Stripe's keys and secrets are.
    return "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))


def new_webhook_secret() -> str:
    return "whsec_" + _random(32)


def new_secret_key() -> str:
    return "sk_test_" + _random(48)


def new_publishable_key() -> str:
    return "pk_test_" + _random(48)


@dataclass(frozen=True)
class SandboxKeys:
    """The keys of one sandbox account and the signing secret of the webhooks it sends.

    Generated per instance (or per data dir, see `load_or_create`): a sandbox never answers to a
    documented key, so only whoever was given these can use it.
    """

    secret_key: str = field(default_factory=new_secret_key)
    publishable_key: str = field(default_factory=new_publishable_key)
    webhook_secret: str = field(default_factory=new_webhook_secret)

    def __post_init__(self) -> None:
        if not self.secret_key.startswith("sk_test_") or len(self.secret_key) < 24:
            raise ValueError("the sandbox's secret key must be a test key: sk_test_ and at least 16 more characters")
        if not self.publishable_key.startswith("pk_test_") or len(self.publishable_key) < 24:
            raise ValueError("the sandbox's publishable key must be pk_test_ and at least 16 more characters")
        if not self.webhook_secret.startswith("whsec_") or len(self.webhook_secret) < 22:
            raise ValueError("the sandbox's webhook secret must be whsec_ and at least 16 more characters")

    @classmethod
    def load_or_create(cls, path: Path) -> SandboxKeys:
        """The keys kept in `path` (owner-only JSON), generated and written there on first use, so that
        restarts, and orderpay and the sandbox it embeds, agree on them."""
        if path.exists():
            private_file(path)  # an older version may have left it readable
            stored = json.loads(path.read_text(encoding="utf-8"))
            return cls(stored["secret_key"], stored["publishable_key"], stored["webhook_secret"])
        keys = cls()
        write_private(path, json.dumps({"secret_key": keys.secret_key, "publishable_key": keys.publishable_key,
                                        "webhook_secret": keys.webhook_secret}, indent=2))
        return keys


@dataclass(frozen=True)
class WebhookEndpointConfig:
    """A webhook endpoint known from configuration rather than registered through the admin API.

    The secret defaults to a fresh `whsec_` value; read it back from the config to verify signatures.
    It is never shown through the API.
    """

    url: str
    secret: str = field(default_factory=new_webhook_secret)
    enabled_events: tuple[str, ...] = ("*",)

    @property
    def id(self) -> str:
        # Derived from the settings so that deliveries queued before a restart still find their endpoint.
        digest = hashlib.sha256(f"{self.url}\n{self.secret}\n{','.join(self.enabled_events)}".encode()).hexdigest()
        return "we_cfg" + digest[:18]


@dataclass
class SandboxConfig:
    """Everything the sandbox needs to run; the defaults suit a developer machine.

    `state_path=None` keeps state in memory; `fresh=True` discards a previous state file.
    Delays are in seconds and exist so tests can shrink them.
    """

    state_path: Path | None = None
    fresh: bool = False
    webhook_endpoints: list[WebhookEndpointConfig] = field(default_factory=list)
    deliver_twice: bool = False
    # Fresh random keys unless given: `config.keys.secret_key` is what a client must present.
    keys: SandboxKeys = field(default_factory=SandboxKeys)
    # Browser origins allowed to call the API cross-origin (CORS). Empty: none, which suits a sandbox
    # served on the shop's own origin (mounted, as orderpay embeds it).
    allowed_origins: list[str] = field(default_factory=list)
    # Whether `POST /_sandbox/webhook_endpoints` may add endpoints. Off where the sandbox must deliver
    # only to its host's own webhook route (embedded in orderpay): no one can make it POST elsewhere.
    allow_webhook_registration: bool = True
    # How long a `processing` payment (the sandbox's processing card) takes to settle.
    processing_delay: float = 2.0
    # How long after a charge on the dispute test card (4000 0000 0000 0259) its dispute opens.
    dispute_delay: float = 1.0
    # Webhook retries: the n-th retry waits retry_delay * 2**(n-1); Stripe's own schedule spans days.
    webhook_retry_delay: float = 1.0
    webhook_max_attempts: int = 8
    webhook_timeout: float = 5.0
    # Simulated round trip of every API call (a Stripe that answers in this many seconds): benchmarks,
    # and tests that observe in-flight idempotent requests.
    latency: float = 0.0
    # Version stamped on events; None means the version the installed stripe SDK pins.
    api_version: str | None = None

    @property
    def secret_key(self) -> str:
        return self.keys.secret_key

    @property
    def publishable_key(self) -> str:
        return self.keys.publishable_key
