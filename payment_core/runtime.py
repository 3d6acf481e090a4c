"""Everything a running orderpay process holds: the app spec, the database and
the identity keys. The REST API, the MCP server and the CLI share one Runtime."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from payment_core.db import create_engine, create_schema
from payment_core.identity import DevTokenIssuer, SigningKey, TokenVerifier, load_or_create_signing_key
from payment_core.objects import ObjectStore
from payment_core.schema import build_tables
from payment_core.settings import Settings
from payment_core.spec import LoadedApp, load_app

log = logging.getLogger("orderpay")


def signing_key_path(settings: Settings) -> Path:
    return settings.data_dir / "dev-signing-key.pem"


def dev_issuer(settings: Settings, key: SigningKey | None = None) -> DevTokenIssuer:
    key = key or load_or_create_signing_key(signing_key_path(settings))
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
    engine: AsyncEngine
    metadata: MetaData
    verifier: TokenVerifier
    issuer: DevTokenIssuer | None
    stores: dict[str, ObjectStore] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        app = load_app(settings.app)
        key = load_or_create_signing_key(signing_key_path(settings)) if settings.dev_identity_enabled else None
        engine = create_engine(settings.resolved_database_url(app.codename))
        metadata, tables = build_tables(app.spec)
        return cls(
            settings=settings,
            app=app,
            engine=engine,
            metadata=metadata,
            verifier=token_verifier(settings, key),
            issuer=dev_issuer(settings, key) if key else None,
            stores={obj.name: ObjectStore(engine, service, obj, tables[obj.name]) for service, obj in app.spec.objects()},
        )

    async def start(self) -> None:
        await create_schema(self.engine, self.metadata)
        if self.settings.demo_data and self.settings.environment == "development" and self.settings.embedded_database:
            from payment_core.demo import seed_demo_data

            created = await seed_demo_data(self)
            if created:
                log.info("demo data created", extra={"records": created})

    async def close(self) -> None:
        await self.engine.dispose()

    def store(self, object_name: str) -> ObjectStore:
        return self.stores[object_name]
