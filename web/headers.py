"""Security headers of every page, script and pay-link answer the UI serves."""
from __future__ import annotations

from payment_core.stripe_setup import StripeSetup


def page_headers(stripe: StripeSetup, *, capability_url: bool = False) -> dict[str, str]:
    """Headers for a UI response. `capability_url`: the URL itself grants access (a pay
    link), so it must not leak through the Referer header or a shared cache."""
    headers = {
        # Stripe's own CSP for pages using Stripe.js: our scripts and Stripe's, nothing inline.
        "Content-Security-Policy": stripe.content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }
    if capability_url:
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
    return headers
