"""What the browser code is told about this app: its order objects' REST routes and
how to load Stripe.js. Only public values: no key but the publishable one, no token."""
from __future__ import annotations

from typing import Any

from payment_core.identity import DEMO_USERS
from payment_core.runtime import Runtime


def order_objects(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Per order object, where its REST API lives (the chat's Pay card calls it with the user's token)."""
    return {
        obj.name: {
            "serviceName": service.name,
            "prefix": service.route_prefix,
            "plural": obj.plural.lower(),
            "statusProperty": obj.order.orderStatusProperty,
            "amountUnit": obj.order.amountUnit,  # the admin page's refund amounts are sent in it
        }
        for service, obj in runtime.app.spec.order_objects()
    }


def page_config(runtime: Runtime) -> dict[str, Any]:
    spec = runtime.app.spec
    dev_sign_in = runtime.issuer is not None
    return {
        "appTitle": spec.title or spec.codename,
        "publishableKey": runtime.stripe.publishable_key,
        "sandbox": runtime.stripe.embedded_sandbox,
        "orderObjects": order_objects(runtime),
        "devSignIn": dev_sign_in,
        # Sign-in at the OpenID provider (web/oidc.py); its endpoints come from /auth/oidc/config.
        "oidcSignIn": runtime.settings.oidc_enabled,
        # Development only: the demo users are public (README); their passwords are `<name>-pass`.
        "demoUsers": [user.username for user in DEMO_USERS] if dev_sign_in else [],
    }
