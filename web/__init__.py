"""The browser UI: the chat app at `/`, the hosted pay page `/pay/{token}`, the
payment result page `/pay/result`, their static files and the pay-link API.

The host application (bff/server.py) includes `web_router(runtime)`; everything
here talks to payment_core only through the runtime it is given.
"""
from web.router import web_router

__all__ = ["web_router"]
