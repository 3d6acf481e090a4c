"""Numbers operators watch, in Prometheus' text format (served at `/metrics`, see api/metrics.py).

Code reports what happened through the small functions below, at the seams where it happens
(the payment routes, the transition, the Stripe gateway, the webhook routes, the chat's tool
calls and streams), so that no module needs to know about Prometheus. Counters live in this
process's registry: each replica counts what it did, and Prometheus sums replicas.

Labels are kept to bounded sets (app, object, operation, outcome, tool name): never a user,
an order id or a message.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import gc_collector, platform_collector, process_collector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from payment_core.errors import OrderPayError

T = TypeVar("T")

REGISTRY = CollectorRegistry()
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

PAYMENTS_STARTED = Counter("orderpay_payments_started", "Payment starts that reached Stripe (a PaymentIntent was created and confirmed).",
                           ["app", "object"], registry=REGISTRY)
PAYMENTS_SUCCEEDED = Counter("orderpay_payments_succeeded", "Payments that became paid (the transition to success, once per payment).",
                             ["app", "object"], registry=REGISTRY)
PAYMENTS_FAILED = Counter("orderpay_payments_failed", "Payments that failed or were canceled (the transition, once per attempt).",
                          ["app", "object", "result"], registry=REGISTRY)
PAYMENTS_REFUSED = Counter("orderpay_payments_refused", "Payment starts refused before anything was charged, by error code "
                           "(payment_attempts_exceeded, conflict, not_found, payment_gateway_unavailable, ...).",
                           ["app", "object", "reason"], registry=REGISTRY)
STRIPE_SECONDS = Histogram("orderpay_stripe_request_seconds", "Stripe API calls: latency by operation and outcome.",
                           ["operation", "outcome"], registry=REGISTRY,
                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40))
WEBHOOKS = Counter("orderpay_webhook_deliveries", "Stripe webhook deliveries by outcome (processed, ignored, duplicate, "
                   "webhook_rejected, webhook_not_ready, failed).", ["outcome"], registry=REGISTRY)
RECONCILER_SWEEPS = Counter("orderpay_reconciler_sweeps", "Sweeps of the reconciler over payments whose outcome is unknown.",
                            ["app"], registry=REGISTRY)
RECONCILER_RECOVERED = Counter("orderpay_reconciler_recovered", "Unfinished payments a reconciler sweep claimed and applied "
                               "Stripe's answer to.",
                               ["app"], registry=REGISTRY)
CHAT_TURNS_STARTED = Counter("orderpay_chat_turns_started", "Chat turns started.", registry=REGISTRY)
CHAT_TURN_SECONDS = Histogram("orderpay_chat_turn_seconds", "Chat turns finished: duration by outcome (done, error, stopped).",
                              ["outcome"], registry=REGISTRY, buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 180))
TOOL_SECONDS = Histogram("orderpay_chat_tool_call_seconds", "Tool calls made by the chat, by tool and outcome (ok, failed).",
                         ["tool", "outcome"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
SSE_STREAMS = Gauge("orderpay_sse_streams_active", "Server-sent event streams open to browsers right now.", registry=REGISTRY)


# -- what the code calls ------------------------------------------------------------------

@contextmanager
def payment_start(app: str, obj: str) -> Iterator[None]:
    """Around a payment start: counts it as started, or as refused with the error's code."""
    try:
        yield
    except OrderPayError as exc:
        PAYMENTS_REFUSED.labels(app, obj, exc.code).inc()
        raise
    PAYMENTS_STARTED.labels(app, obj).inc()


def payment_transition(app: str, obj: str, status_literal: str) -> None:
    """A payment's state moved (once per change: transitions are conditional updates)."""
    if status_literal == "success":
        PAYMENTS_SUCCEEDED.labels(app, obj).inc()
    elif status_literal in ("failed", "canceled"):
        PAYMENTS_FAILED.labels(app, obj, status_literal).inc()


async def stripe_call(operation: str, call: Awaitable[T], *, outcome_of: Callable[[BaseException], str]) -> T:
    """Await a Stripe call, timing it; `outcome_of` names a failure (declined, unavailable, ...)."""
    started = time.perf_counter()
    try:
        result = await call
    except BaseException as exc:
        STRIPE_SECONDS.labels(operation, outcome_of(exc)).observe(time.perf_counter() - started)
        raise
    STRIPE_SECONDS.labels(operation, "ok").observe(time.perf_counter() - started)
    return result


async def webhook_delivery(handling: Awaitable[T]) -> T:
    """Await a webhook's handling, counting its outcome (the result's `status`, or the error's code)."""
    try:
        outcome = await handling
    except OrderPayError as exc:
        WEBHOOKS.labels(exc.code).inc()
        raise
    except Exception:
        WEBHOOKS.labels("failed").inc()
        raise
    WEBHOOKS.labels(str(getattr(outcome, "status", "processed"))).inc()
    return outcome


def reconciler_sweep(app: str, recovered: int) -> None:
    RECONCILER_SWEEPS.labels(app).inc()
    if recovered:
        RECONCILER_RECOVERED.labels(app).inc(recovered)


def chat_turn_started() -> None:
    CHAT_TURNS_STARTED.inc()


def chat_turn_finished(outcome: str, seconds: float) -> None:
    CHAT_TURN_SECONDS.labels(outcome).observe(seconds)


def tool_call(tool: str, ok: bool, seconds: float) -> None:
    TOOL_SECONDS.labels(tool, "ok" if ok else "failed").observe(seconds)


@contextmanager
def sse_stream() -> Iterator[None]:
    """Around an open SSE stream."""
    SSE_STREAMS.inc()
    try:
        yield
    finally:
        SSE_STREAMS.dec()


# -- rendering ----------------------------------------------------------------------------

def render(families: Iterable[Metric] = ()) -> bytes:
    """The process's metrics, then `families` read at scrape time (a runtime's relay), as text."""
    return generate_latest(REGISTRY) + generate_latest(_Families(list(families)))  # type: ignore[arg-type]


def relay_families(app: str, stats: Any, backlog: Any | None) -> list[Metric]:
    """The outbox relay's counters (this process's relay, since start) and the outbox's backlog
    (database-wide, the same from every replica: aggregate it with max, not sum)."""
    families: list[Metric] = []
    for name, documentation, value in (
        ("orderpay_relay_delivered", "Outbox events fully delivered by this process's relay.", stats.delivered),
        ("orderpay_relay_retries", "Outbox deliveries that failed and will be retried.", stats.retried),
        ("orderpay_relay_dead_letters", "Outbox events given up on after the last attempt (dead letters).", stats.dead_lettered),
    ):
        family = CounterMetricFamily(name, documentation, labels=["app"])
        family.add_metric([app], value)
        families.append(family)
    if backlog is not None:
        for name, documentation, value in (
            ("orderpay_relay_lag_seconds", "Age of the oldest outbox event not yet delivered (0: none waits).",
             backlog.oldest_pending_seconds),
            ("orderpay_outbox_pending", "Outbox events waiting for delivery.", backlog.pending),
            ("orderpay_outbox_dead", "Outbox events in the dead-letter state.", backlog.dead),
        ):
            gauge = GaugeMetricFamily(name, documentation, labels=["app"])
            gauge.add_metric([app], value)
            families.append(gauge)
    return families


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families
