"""What production needs before it starts. Checked by `orderpay serve` before anything listens and
again where the Stripe connection is set up, so no entry point can bring production up on the
offline sandbox (money rule 1: a test double is never reachable in production)."""
from __future__ import annotations

import logging

from payment_core.errors import StartupError
from payment_core.settings import Settings

log = logging.getLogger("orderpay")

# Stripe's test-mode secret and restricted keys.
TEST_MODE_PREFIXES = ("sk_test_", "rk_test_")


def check_production(settings: Settings) -> None:
    """Raise StartupError when production lacks a Stripe secret key (without one, orderpay would
    start the offline sandbox and take test cards as payment)."""
    if settings.environment != "production":
        return
    if not (settings.stripe_secret_key or "").strip():
        raise StartupError("production needs ORDERPAY_STRIPE_SECRET_KEY (the Stripe secret key, sk_live_…): "
                           "the offline Stripe sandbox never runs in production")


def warn_if_test_mode(settings: Settings) -> None:
    """Production on a test-mode key charges nothing real: allowed (a staging box), but said at start."""
    key = settings.stripe_secret_key or ""
    if settings.environment == "production" and key.startswith(TEST_MODE_PREFIXES):
        log.warning("production runs on a Stripe test-mode key (ORDERPAY_STRIPE_SECRET_KEY starts with %s): "
                    "no real payment is taken", key[:8])
