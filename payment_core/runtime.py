"""Everything a running orderpay process holds: the app spec, the database and
the identity keys. The REST API, the MCP server and the CLI share one Runtime."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from payment_core.db import Database, create_database, database_plan, upgrade_database
from payment_core.demo import seed_demo_data
from payment_core.errors import DatabaseBehind
from payment_core.files import private_dir
from payment_core.identity import DevTokenIssuer, SigningKey, TokenVerifier, VerifiedTokens, load_or_create_signing_key
from payment_core.objects import ObjectStore
from payment_core.paylinks import pay_link_use_table
from payment_core.payments import PaymentService
from payment_core.payments.gateway import StripeGateway
from payment_core.stripe_setup import StripeSetup, configured_stripe
from payment_core.payments.throttle import Throttle, throttle_table
from payment_core.relay import OutboxRelay, load_callable
from payment_core.schema import build_tables
from payment_core.settings import Settings
from payment_core.spec import LoadedApp, load_app

log = logging.getLogger("orderpay")


def dev_issuer(settings: Settings, key: SigningKey | None = None) -> DevTokenIssuer:
    key = key or load_or_create_signing_key(settings.signing_key_path)
    return DevTokenIssuer(key, settings.auth_issuer, settings.auth_audience, settings.dev_token_ttl_seconds)


def token_verifier(settings: Settings, key: SigningKey | None) -> TokenVerifier:
    if settings.auth_jwks_url:
        return TokenVerifier(issuer=settings.auth_issuer, audience=settings.auth_audience, jwks_url=settings.auth_jwks_url)
    if key is None:
        raise RuntimeError("production needs ORDERPAY_AUTH_JWKS_URL: there is no development identity provider")
    return TokenVerifier(issuer=settings.auth_issuer, audience=settings.auth_audience, jwks=key.jwks())


@dataclass
class Runtime:
    settings: Settings
    app: LoadedApp
    db: Database
    metadata: MetaData
    verifier: TokenVerifier
    tokens: VerifiedTokens
    issuer: DevTokenIssuer | None
    stores: dict[str, ObjectStore]
    stripe: StripeSetup
    payments: PaymentService
    relay: OutboxRelay

    @classmethod
    def create(cls, settings: Settings, stripe: StripeSetup | None = None) -> Runtime:
        """Build, without starting, the runtime talking to `stripe`: by default the Stripe the settings
        name. The composition root (`orderpay.build_runtime`) hands in the embedded sandbox's instead
        when that plays Stripe: the core never chooses it."""
        app = load_app(settings.app)
        if settings.data_dir.exists():  # made by an older version perhaps, readable by others
            private_dir(settings.data_dir, tighten=True)
        key = load_or_create_signing_key(settings.signing_key_path) if settings.dev_identity_enabled else None
        db = create_database(settings.resolved_database_url(app.codename))
        metadata, tables = build_tables(app.spec)
        pay_link_use_table(metadata)  # the pay page records used links there (web/paygrants.py)
        verifier = token_verifier(settings, key)
        stores = {obj.name: ObjectStore(db, service, obj, tables[obj.name]) for service, obj in app.spec.objects()}
        stripe = stripe or configured_stripe(settings)
        gateway = StripeGateway(stripe.secret_key, stripe.publishable_key, api_base=stripe.api_base,
                                timeout=settings.stripe_timeout_seconds)
        payments = PaymentService(
            db=db, app=app, stores=stores, metadata=metadata, gateway=gateway,
            webhook_secrets=stripe.webhook_secrets, webhook_tolerance=settings.stripe_webhook_tolerance_seconds,
            throttle=Throttle(db, throttle_table(metadata), settings.payment_attempts_per_minute),
            # the longest a Stripe call can take: its timeout, once more for the SDK's retry, and some slack
            stale_attempt_seconds=settings.stripe_timeout_seconds * 2 + 2,
        )
        return cls(
            settings=settings,
            app=app,
            db=db,
            metadata=metadata,
            verifier=verifier,
            tokens=VerifiedTokens(verifier, offload=settings.auth_jwks_url is not None),
            issuer=dev_issuer(settings, key) if key else None,
            stores=stores,
            stripe=stripe,
            payments=payments,
            relay=build_relay(settings, app, db, payments),
        )

    async def start(self) -> None:
        await self.prepare_database()
        if self.settings.demo_data and self.settings.environment == "development" and self.settings.embedded_database:
            created = await seed_demo_data(self.app, self.stores, self.engine)
            if created:
                log.info("demo data created", extra={"records": created})

    async def prepare_database(self) -> None:
        """Upgrade the database at start where that is safe, else refuse to run on one that is behind.

        The embedded SQLite and development upgrade themselves. A production database shared by
        replicas is upgraded once, by `orderpay db upgrade` as a deploy step, so that replicas never
        race each other's DDL and an operator sees a refused change before any replica runs.
        """
        if self.settings.upgrades_database_at_start:
            plan = await upgrade_database(self.engine, self.metadata)
            if plan.additions:
                log.info("database upgraded", extra={"additions": plan.additions})
            return
        plan = await database_plan(self.engine, self.metadata)
        if plan.behind:
            raise DatabaseBehind("the database is behind this app spec and code; run `orderpay db upgrade` "
                                 f"with the same settings first.\n{plan.describe()}")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        """Start, relay events and reconcile unfinished payments while the body runs, then close."""
        await self.start()
        reconciler = asyncio.create_task(self.payments.run_reconciler(
            # An attempt younger than a Stripe call's longest run may still be on its way there.
            older_than=max(self.settings.reconcile_after_seconds, self.payments.stale_attempt_seconds),
            interval=self.settings.reconcile_interval_seconds), name="orderpay-payment-reconciler")
        try:
            async with self.relay.running():
                yield self
        finally:
            reconciler.cancel()
            try:
                await reconciler
            except asyncio.CancelledError:
                pass
            await self.close()

    async def close(self) -> None:
        await self.payments.gateway.close()
        await self.db.dispose()

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    def store(self, object_name: str) -> ObjectStore:
        return self.stores[object_name]


def build_relay(settings: Settings, app: LoadedApp, db: Database, payments: PaymentService) -> OutboxRelay:
    """The relay with each order object's edge function subscribed to its payment events, and the
    broker; woken by every commit of this process that wrote events."""
    relay = OutboxRelay(db, payments.outbox, idle_seconds=settings.relay_interval_seconds,
                        lease_seconds=settings.relay_lease_seconds, max_attempts=settings.relay_max_attempts,
                        dead_letter_topic=payments.topics.dead_letter())
    db.after_write.append(relay.notify)
    for service, obj in app.spec.order_objects():
        if obj.order.edgeFunctionOnStatusChange:
            topics = {payments.topics.payment(service.name, obj.name, e) for e in ("started", "refreshed", "calledback")}
            relay.subscribe(topics, load_callable(obj.order.edgeFunctionOnStatusChange),
                            name=obj.order.edgeFunctionOnStatusChange)
    if settings.broker_url:
        from payment_core.brokers import publisher_for

        relay.publishers.append(publisher_for(settings.broker_url, stream=settings.broker_stream or f"orderpay-{app.codename}",
                                              subjects=[*payments.topic_names(), payments.topics.dead_letter()]))
    return relay
