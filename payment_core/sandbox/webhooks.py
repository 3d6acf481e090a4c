"""Webhook endpoints, Stripe's `Stripe-Signature` scheme, and delivery with exponential-backoff retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from . import objects
from .config import new_webhook_secret
from .errors import invalid_param, missing_param, no_such
from .store import Job

if TYPE_CHECKING:
    from .runtime import Sandbox

logger = logging.getLogger("payment_core.sandbox.webhooks")

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def endpoint_object(url: str, secret: str, enabled_events: list[str], *, endpoint_id: str | None = None) -> dict[str, Any]:
    return {
        "id": endpoint_id or objects.new_id("we"),
        "object": "webhook_endpoint",
        "api_version": None,
        "application": None,
        "created": objects.now(),
        "description": None,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": {},
        "secret": secret,
        "status": "enabled",
        "url": url,
    }


def endpoints(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Endpoints from the configuration, then those registered through the admin API (oldest first)."""
    configured = [
        endpoint_object(cfg.url, cfg.secret, list(cfg.enabled_events), endpoint_id=cfg.id) for cfg in sandbox.config.webhook_endpoints
    ]
    registered, _ = sandbox.store.list("webhook_endpoint", limit=10_000)
    return configured + registered[::-1]


def without_secret(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in endpoint.items() if key != "secret"}


def listens_to(endpoint: dict[str, Any], event_type: str) -> bool:
    return "*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"]


def register(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Admin call: add an endpoint, as Stripe's dashboard would. The secret may be given or is generated."""
    url = params.get("url")
    if not url:
        raise missing_param("url")
    if not str(url).startswith(("http://", "https://")):
        raise invalid_param("url", "Invalid URL: must be an http or https URL")
    enabled = params.get("enabled_events") or ["*"]
    if isinstance(enabled, str):
        enabled = [enabled]
    secret = params.get("secret") or new_webhook_secret()
    if not str(secret).startswith("whsec_"):
        raise invalid_param("secret", "Webhook signing secrets start with whsec_")
    return sandbox.store.put(endpoint_object(str(url), str(secret), [str(e) for e in enabled]))


def unregister(sandbox: Sandbox, endpoint_id: str) -> dict[str, Any]:
    endpoint = sandbox.store.get(endpoint_id)
    if endpoint is None or endpoint["object"] != "webhook_endpoint":
        raise no_such("webhook_endpoint", endpoint_id)
    sandbox.store.delete(endpoint_id)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def schedule(sandbox: Sandbox, event: dict[str, Any]) -> int:
    """Queue the event for every endpoint listening to it (twice each in duplicate mode); returns the endpoint count."""
    listening = [endpoint for endpoint in endpoints(sandbox) if listens_to(endpoint, event["type"])]
    copies = 2 if sandbox.config.deliver_twice else 1
    for endpoint in listening:
        for _ in range(copies):
            sandbox.store.add_job("deliver", {"event": event["id"], "endpoint": endpoint["id"]}, time.time())
    return len(listening)


async def deliver(sandbox: Sandbox, client: httpx.AsyncClient, job: Job) -> None:
    """One delivery attempt; a non-2xx answer or a connection error reschedules it with exponential backoff."""
    store = sandbox.store
    event = store.get(job.payload["event"])
    endpoint = next((e for e in endpoints(sandbox) if e["id"] == job.payload["endpoint"]), None)
    if event is None or endpoint is None:  # reset or unregistered since the event was queued
        store.finish_job(job.id)
        return
    payload = json.dumps(event, indent=2)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": sign(payload, endpoint["secret"], int(time.time())),
    }
    try:
        response = await client.post(endpoint["url"], content=payload.encode(), headers=headers)
        delivered = 200 <= response.status_code < 300
        failure = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        delivered, failure = False, f"{type(exc).__name__}: {exc}"
    if delivered:
        with store.transaction():
            store.finish_job(job.id)
            current = store.get(event["id"])
            if current is not None:
                store.put({**current, "pending_webhooks": max(0, current["pending_webhooks"] - 1)})
        return
    attempts = job.attempts + 1
    if attempts >= sandbox.config.webhook_max_attempts:
        logger.warning("giving up on %s to %s after %d attempts (%s)", event["id"], endpoint["url"], attempts, failure)
        store.finish_job(job.id)
        return
    delay = sandbox.config.webhook_retry_delay * 2 ** (attempts - 1)
    logger.info("delivery of %s to %s failed (%s); retrying in %.2fs", event["id"], endpoint["url"], failure, delay)
    store.retry_job(job.id, time.time() + delay)
