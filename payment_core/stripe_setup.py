"""Which Stripe orderpay talks to: real Stripe (or a compatible server) when a secret key is
set, otherwise the offline sandbox served inside this process at /stripe-sandbox."""
from __future__ import annotations

from dataclasses import dataclass

from payment_core.production import check_production, warn_if_test_mode
from payment_core.sandbox import SandboxConfig, SandboxKeys, WebhookEndpointConfig
from payment_core.settings import Settings

SANDBOX_PREFIX = "/stripe-sandbox"


@dataclass(frozen=True)
class StripeSetup:
    secret_key: str
    publishable_key: str
    api_base: str | None  # None: api.stripe.com
    webhook_secrets: list[str]
    sandbox: SandboxConfig | None  # set when the sandbox plays Stripe

    @property
    def stripe_js_url(self) -> str:
        """Where a page loads Stripe.js from. The embedded sandbox's is same-origin, whatever host
        name the browser used to reach orderpay (the script learns its API base from that request)."""
        return f"{SANDBOX_PREFIX}/js/v3/" if self.sandbox else "https://js.stripe.com/v3/"

    def content_security_policy(self) -> str:
        """A CSP for pages that use Stripe.js: our own scripts and Stripe's, nothing inline."""
        stripe = "" if self.sandbox else " https://js.stripe.com"
        frames = "" if self.sandbox else " https://js.stripe.com https://hooks.stripe.com"
        connect = "" if self.sandbox else " https://api.stripe.com"
        return (f"default-src 'self'; script-src 'self'{stripe}; connect-src 'self'{connect}; "
                f"frame-src 'self'{frames}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


# The embedded sandbox's keys and webhook secret, generated once per data dir and kept owner-only,
# so that a restart (and deliveries queued before it) keeps them.
SANDBOX_KEYS_FILE = "stripe-sandbox-keys.json"


def stripe_setup(settings: Settings, webhook_paths: list[str]) -> StripeSetup:
    """`webhook_paths` are the service-wide webhook routes the sandbox should deliver to."""
    check_production(settings)  # production never falls back to the sandbox
    if not settings.uses_sandbox:
        warn_if_test_mode(settings)
        return StripeSetup(
            secret_key=settings.stripe_secret_key or "",
            publishable_key=settings.stripe_publishable_key or "",
            api_base=settings.stripe_api_base,
            webhook_secrets=list(settings.stripe_webhook_secrets),
            sandbox=None,
        )
    public = settings.resolved_public_url()
    keys = SandboxKeys.load_or_create(settings.data_dir / SANDBOX_KEYS_FILE)
    secret = keys.webhook_secret
    config = SandboxConfig(
        state_path=settings.data_dir / "stripe-sandbox.sqlite3",
        keys=keys,
        webhook_endpoints=[WebhookEndpointConfig(url=f"{public}{path}", secret=secret) for path in webhook_paths],
        # Same-origin (served under /stripe-sandbox): no CORS, and deliveries only to orderpay's own routes.
        allow_webhook_registration=False,
        deliver_twice=settings.sandbox_deliver_twice,
        latency=settings.sandbox_latency_ms / 1000,
    )
    return StripeSetup(
        secret_key=config.secret_key,
        publishable_key=config.publishable_key,
        api_base=f"{public}{SANDBOX_PREFIX}",
        webhook_secrets=[secret, *settings.stripe_webhook_secrets],
        sandbox=config,
    )
