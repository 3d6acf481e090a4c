"""Settings, read from `ORDERPAY_*` environment variables (or a `.env` file).

Every setting has an embedded default so that `orderpay serve` runs with nothing
configured: SQLite under the data directory, the offline Stripe sandbox and the
development identity provider.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


DEFAULT_DATA_DIR = Path(".orderpay")


def default_data_dir(start: Path) -> Path:
    """`.orderpay` of the project `start` is in, so `orderpay serve` and `orderpay token` run from
    any of its folders share one database and one signing key: the nearest folder up from `start`
    that has a `.orderpay` or is a project root (`pyproject.toml`), else `start` itself."""
    for folder in (start, *start.parents):
        if (folder / DEFAULT_DATA_DIR).is_dir() or (folder / "pyproject.toml").is_file():
            return folder / DEFAULT_DATA_DIR
    return start / DEFAULT_DATA_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERPAY_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development",
        description="`production` turns the development identity provider and demo data off.",
    )
    app: str = Field("store", description="Bundled app name (store, ebaycclone, clonesahibinden, airbnb) or a spec file path.")
    host: str = Field("127.0.0.1", description="Address `orderpay serve` binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port `orderpay serve` binds.")
    public_url: str | None = Field(None, description="Base URL browsers reach the server at; defaults to http://host:port.")
    data_dir: Path = Field(DEFAULT_DATA_DIR, validate_default=True,
                           description="Where the embedded database, signing key and sandbox state live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db. Default: SQLite file in the data directory.",
    )
    demo_data: bool = Field(True, description="Create demo users' orders on first run (embedded database, development only).")

    auth_issuer: str = Field("orderpay-dev", description="Expected `iss` of bearer tokens.")
    auth_audience: str = Field("orderpay", description="Expected `aud` of bearer tokens.")
    auth_jwks_url: str | None = Field(None, description="JWKS URL of the external issuer (production).")
    oidc_issuer: str | None = Field(
        None, description="OpenID provider the web UI signs buyers in at (discovery at {issuer}/.well-known/openid-configuration); "
                          "default: ORDERPAY_AUTH_ISSUER.")
    oidc_client_id: str | None = Field(None, description="The web UI's client id at the OpenID provider; set, it turns OpenID Connect sign-in on.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="Client secret, if the provider registered the web UI as a confidential client (used by the server only).")
    oidc_scopes: str = Field("openid email profile", description="Scopes the web UI asks for (add offline_access where the provider wants it for refresh tokens).")
    oidc_redirect_url: str | None = Field(None, description="Redirect URL registered at the provider; default {public URL}/auth/callback.")
    dev_token_ttl_seconds: int = Field(8 * 3600, gt=0, description="Lifetime of development tokens.")
    login_failures_per_minute: int = Field(
        5, gt=0, description="Failed development sign-ins per user name and per client address a minute; then 429."
    )

    stripe_secret_key: str | None = Field(
        None, description="Stripe secret key (sk_test_… / sk_live_…). Unset: the offline sandbox is started and used."
    )
    stripe_publishable_key: str | None = Field(None, description="Stripe publishable key given to the browser.")
    stripe_webhook_secrets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Webhook signing secrets (whsec_…), comma-separated; several during a rotation. None: webhooks are refused.",
    )
    stripe_api_base: str | None = Field(
        None, description="Base URL of a Stripe-compatible API (stripe-mock, localstripe, a standalone sandbox)."
    )
    stripe_webhook_tolerance_seconds: int = Field(300, gt=0, description="Oldest (and furthest future) signature timestamp accepted.")
    stripe_timeout_seconds: float = Field(20.0, gt=0, description="Timeout of one call to Stripe.")
    reconcile_after_seconds: float = Field(
        60.0, gt=0,
        description="A payment left calling, requires_action or processing this long is resolved through Stripe by the "
                    "reconciler (never less than the longest a Stripe call can take: twice the timeout plus 2 s).",
    )
    reconcile_interval_seconds: float = Field(15.0, gt=0, description="How often each process's reconciler looks for such payments.")
    payment_attempts_per_minute: int = Field(
        10, gt=0, description="Card additions and payment starts one user may make per minute; more get 429 (card testing)."
    )
    sandbox_deliver_twice: bool = Field(False, description="The embedded sandbox delivers every webhook twice.")
    sandbox_latency_ms: float = Field(0, ge=0, description="The sandbox (embedded or `orderpay sandbox`) answers every API call after this many ms.")
    sandbox_secret_key: SecretStr | None = Field(
        None, description="`orderpay sandbox`: the secret key it accepts (sk_test_…). Unset: generated and kept beside its state."
    )
    sandbox_publishable_key: str | None = Field(None, description="`orderpay sandbox`: the publishable key it accepts (pk_test_…).")
    sandbox_webhook_secret: SecretStr | None = Field(None, description="`orderpay sandbox`: the signing secret of its --webhook deliveries.")
    sandbox_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="`orderpay sandbox`: browser origins that may call it cross-origin (comma-separated)."
    )

    broker_url: str | None = Field(
        None, description="Where payment events are published: nats://host:4222 (JetStream) or kafka://host:9092. Unset: in-process only."
    )
    broker_stream: str | None = Field(None, description="JetStream stream name; default orderpay-<app>.")
    relay_interval_seconds: float = Field(
        1.0, gt=0, description="How often an idle outbox relay looks for events it was not woken for: other replicas' "
                               "and retries coming due (each commit of this process that wrote events wakes it at once).")
    relay_lease_seconds: float = Field(
        60.0, ge=2, description="How long a relay holds the events it is delivering before another replica may take them "
                                "over; one event's deliveries time out at half of it, shared by its subscribers and broker.")
    relay_max_attempts: int = Field(
        30, gt=0, description="Failed deliveries of one event before the relay dead-letters it (backoff 0.5 s doubling, "
                              "at most 60 s: 30 attempts span about 25 minutes).")

    pay_link_secret: SecretStr | None = Field(
        None, description="HMAC key of pay links (at least 32 bytes); required in production, shared by every replica."
    )
    pay_link_ttl_seconds: int = Field(900, gt=0, description="How long a pay link from initiatePayment stays valid.")

    mcp_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins besides the public URL's that may call /mcp (comma-separated), e.g. an MCP Inspector's.",
    )
    mcp_token: SecretStr | None = Field(None, description="Bearer token of the user `orderpay mcp --stdio` acts for.")
    mcp_resource_url: str | None = Field(
        None,
        description="The MCP endpoint's public URL, its OAuth resource identifier (RFC 8707/9728); default <public URL>/mcp.",
    )
    mcp_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Scopes an MCP client asks the issuer for (comma-separated), published as scopes_supported.",
    )

    metrics_token: SecretStr | None = Field(
        None, description="Bearer token Prometheus sends to read /metrics; without it, production serves no /metrics on the main port.",
    )
    metrics_address: str | None = Field(
        None, description="host:port of a separate listener for /metrics (e.g. 127.0.0.1:9464); the main port then serves none.",
    )

    max_body_bytes: int = Field(1_048_576, gt=0, description="Requests with a larger body get 413.")
    log_level: str = Field("INFO", description="Python logging level.")
    log_json: bool = Field(True, description="Structured JSON log lines (false: plain text).")

    @field_validator("stripe_webhook_secrets", "mcp_allowed_origins", "mcp_scopes", "sandbox_allowed_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("metrics_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9464")
        return value

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        if value == DEFAULT_DATA_DIR:
            return default_data_dir(Path.cwd())
        return value.expanduser()

    @property
    def dev_identity_enabled(self) -> bool:
        return self.environment == "development" and self.auth_jwks_url is None

    @property
    def uses_sandbox(self) -> bool:
        """No Stripe key configured: the offline sandbox, served inside this process, plays Stripe."""
        return self.stripe_secret_key is None

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def upgrades_database_at_start(self) -> bool:
        """Production on a shared database is upgraded by `orderpay db upgrade`, never by a start."""
        return self.embedded_database or self.environment == "development"

    @property
    def signing_key_path(self) -> Path:
        """The development identity's signing key (pay links derive their HMAC key from it too)."""
        return self.data_dir / "dev-signing-key.pem"

    def resolved_database_url(self, app_codename: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{app_codename}.db').resolve()}"

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_client_id is not None

    def resolved_oidc_issuer(self) -> str:
        return (self.oidc_issuer or self.auth_issuer).rstrip("/")

    def resolved_oidc_redirect_url(self) -> str:
        return self.oidc_redirect_url or f"{self.resolved_public_url()}/auth/callback"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def resolved_mcp_resource_url(self) -> str:
        return self.mcp_resource_url or f"{self.resolved_public_url()}/mcp"
