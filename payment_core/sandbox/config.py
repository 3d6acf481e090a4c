"""Configuration of the Stripe sandbox: where state lives, which keys it accepts, where webhooks go."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24).replace("-", "").replace("_", "")


@dataclass(frozen=True)
class WebhookEndpointConfig:
    """A webhook endpoint known from configuration rather than registered through the admin API.

    The secret defaults to a fresh `whsec_` value; read it back from the config to verify signatures.
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
    secret_key: str = "sk_test_orderpay_sandbox"
    publishable_key: str = "pk_test_orderpay_sandbox"
    # Any well-formed sk_test_/pk_test_ key is accepted too, so a developer's own test keys just work.
    accept_any_test_key: bool = True
    # How long a `processing` payment (the sandbox's processing card) takes to settle.
    processing_delay: float = 2.0
    # Webhook retries: the n-th retry waits retry_delay * 2**(n-1); Stripe's own schedule spans days.
    webhook_retry_delay: float = 1.0
    webhook_max_attempts: int = 8
    webhook_timeout: float = 5.0
    # Simulated round trip of every API write, so that in-flight idempotent requests can be observed.
    latency: float = 0.0
    # Version stamped on events; None means the version the installed stripe SDK pins.
    api_version: str | None = None
