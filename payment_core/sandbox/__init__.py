"""An offline, test-mode imitation of the part of Stripe orderpay uses, spoken to through the official SDK.

    config = SandboxConfig(state_path=Path(".orderpay/stripe-sandbox.sqlite3"))   # fresh random keys: config.keys
    app = create_sandbox_app(config)          # ASGI; standalone or mounted under a prefix
    async with app.state.sandbox.running():   # webhook deliveries and settlements (the app's lifespan does this)
        ...
    run_sandbox(host="127.0.0.1", port=12111, config=config)

See docs/sandbox.md for the test cards and the deliberate differences from Stripe.
"""

from .app import create_sandbox_app, run_sandbox
from .config import SandboxConfig, SandboxKeys, WebhookEndpointConfig
from .runtime import Sandbox

__all__ = ["Sandbox", "SandboxConfig", "SandboxKeys", "WebhookEndpointConfig", "create_sandbox_app", "run_sandbox"]
