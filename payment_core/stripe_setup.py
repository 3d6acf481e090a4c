"""Which Stripe orderpay talks to, as the runtime is handed it.

The core knows only the Stripe the settings name: real Stripe, or a compatible server at
`ORDERPAY_STRIPE_API_BASE` (`configured_stripe`). The offline sandbox served inside the process at
`/stripe-sandbox` is a separate part that only the composition root (`orderpay.py`) chooses, when
no Stripe key is set in development; it hands the runtime a `StripeSetup` pointing there.
"""
from __future__ import annotations

from dataclasses import dataclass

from payment_core.production import check_production, warn_if_test_mode
from payment_core.settings import Settings
from payment_core.spec import LoadedApp

SANDBOX_PREFIX = "/stripe-sandbox"
WEBHOOK_ROUTE = "/stripe-webhook"  # each service's, under its route prefix (payment_core/api/payments.py)


@dataclass(frozen=True)
class StripeSetup:
    secret_key: str
    publishable_key: str
    api_base: str | None  # None: api.stripe.com
    webhook_secrets: list[str]
    embedded_sandbox: bool = False  # the sandbox served inside this process at SANDBOX_PREFIX plays Stripe

    @property
    def stripe_js_url(self) -> str:
        """Where a page loads Stripe.js from. The embedded sandbox's is same-origin, whatever host
        name the browser used to reach orderpay (the script learns its API base from that request)."""
        return f"{SANDBOX_PREFIX}/js/v3/" if self.embedded_sandbox else "https://js.stripe.com/v3/"

    def content_security_policy(self) -> str:
        """A CSP for pages that use Stripe.js: our own scripts and Stripe's, nothing inline."""
        stripe = "" if self.embedded_sandbox else " https://js.stripe.com"
        frames = "" if self.embedded_sandbox else " https://js.stripe.com https://hooks.stripe.com"
        connect = "" if self.embedded_sandbox else " https://api.stripe.com"
        return (f"default-src 'self'; script-src 'self'{stripe}; connect-src 'self'{connect}; "
                f"frame-src 'self'{frames}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def configured_stripe(settings: Settings) -> StripeSetup:
    """The Stripe the settings name: its keys, its API base (None: api.stripe.com) and webhook secrets."""
    check_production(settings)  # production without a key refuses to start, whoever builds the runtime
    warn_if_test_mode(settings)
    return StripeSetup(
        secret_key=settings.stripe_secret_key or "",
        publishable_key=settings.stripe_publishable_key or "",
        api_base=settings.stripe_api_base,
        webhook_secrets=list(settings.stripe_webhook_secrets),
    )


def webhook_paths(app: LoadedApp) -> list[str]:
    """The app's Stripe webhook routes, one per service with an order object: where Stripe delivers."""
    prefixes = dict.fromkeys(service.route_prefix for service, _ in app.spec.order_objects())
    return [f"{prefix}{WEBHOOK_ROUTE}" for prefix in prefixes]
