"""Settings of the gateway (env prefix ``COOP_GATEWAY_``)."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings

MIB = 1024 * 1024

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class GatewaySettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_GATEWAY_")
    app_name: ClassVar[str] = "gateway"

    port: int = 8000

    # OIDC resource server. The default issuer is the development identity provider
    # (gateway.devidp); production points at Keycloak's realm.
    oidc_issuer: str = "http://127.0.0.1:8009"
    # Where the gateway itself reads the discovery document (in a container: an
    # internal address). None: <issuer>/.well-known/openid-configuration.
    oidc_discovery_url: str | None = None
    # The discovery document as browsers and integrators reach it: the OpenAPI
    # document's `openIdConnectUrl` and the console's sign-in. None:
    # <issuer>/.well-known/openid-configuration (the issuer is public: tokens name it).
    oidc_public_discovery_url: str | None = None
    # The API identifier access tokens must carry in `aud`.
    oidc_audience: str = "coop-api"
    # Accepted signature algorithms: never taken from the token itself.
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=120)
    # JWKS cache lifetime when the issuer sends no Cache-Control max-age.
    jwks_default_max_age_seconds: int = Field(default=300, ge=1)
    jwks_max_max_age_seconds: int = Field(default=3600, ge=1)
    # An unknown `kid` (a key published since the last fetch) refreshes the JWKS at
    # once, unless another unknown `kid` did within this cooldown (scheduled refreshes
    # do not count): random kids cannot make the gateway hammer the issuer.
    jwks_refresh_cooldown_seconds: float = Field(default=5.0, ge=0)
    oidc_http_timeout_seconds: float = Field(default=5.0, gt=0)
    # Machine clients: a token is its client's (`client_id`, else `azp`) when it has no
    # `sub`, when `sub` is the client id, or when this claim equals
    # COOP_GATEWAY_OIDC_SERVICE_ACCOUNT_VALUE; any other `sub` is a person, whatever app
    # they came through (RFC 9068 puts `client_id` in persons' tokens too). Empty: no
    # claim rule.
    oidc_service_account_claim: str | None = "preferred_username"
    # The claim's value for a machine client, `{client_id}` replaced by the token's
    # client. The default is Keycloak's service accounts.
    oidc_service_account_value: str = "service-account-{client_id}"
    # Verified access tokens are remembered (until their `exp`) to skip re-verification.
    token_cache_size: int = Field(default=10_000, ge=0)

    # Where each service listens (the routing table names these).
    service_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "conventions": "http://127.0.0.1:8001",
            "actions": "http://127.0.0.1:8002",
            "documents": "http://127.0.0.1:8003",
            "notifications": "http://127.0.0.1:8004",
        }
    )
    proxy_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    # Time allowed between two bytes read from a service (a slow or frozen service gives
    # 504): ordinary API calls.
    proxy_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # The same for document uploads and downloads: an upload is scanned and stored
    # before the service answers, a download may pause while storage catches up.
    proxy_transfer_read_timeout_seconds: float = Field(default=30.0, gt=0)
    proxy_write_timeout_seconds: float = Field(default=30.0, gt=0)
    proxy_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    proxy_max_connections: int = Field(default=200, ge=1)
    # How long an idle connection to a service is kept: below the services' header-read
    # timeout (10 s), after which they close it themselves.
    proxy_keepalive_seconds: float = Field(default=5.0, gt=0, le=60)

    # Request size limits: the documents routes allow the documents service's file size
    # plus room for the multipart envelope.
    max_body_bytes: int = Field(default=2 * MIB, ge=1024)
    documents_max_body_bytes: int = Field(default=200 * MIB + 64 * 1024, ge=1024)
    # An imported plan d'actions: the actions service's 10 MiB plus the envelope.
    imports_max_body_bytes: int = Field(default=10 * MIB + 64 * 1024, ge=1024)

    # Rate limiting (in-memory token buckets, per gateway process).
    rate_limit_enabled: bool = True
    # Per authenticated principal.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # Per client IP, before authentication.
    ip_rate_limit_per_second: float = Field(default=200.0, gt=0)
    ip_rate_limit_burst: int = Field(default=1000, ge=1)

    # The API console (/docs): its public client at the identity provider
    # (authorization code + PKCE, redirect URI <gateway>/docs/oauth2-redirect).
    console_client_id: str = "coop-console"

    # CORS: exact origins allowed to call the API from a browser (none by default).
    cors_origins: list[str] = Field(default_factory=list)
    # Sends Strict-Transport-Security (the gateway sits behind TLS in production).
    hsts: bool = False

    # How long the merged OpenAPI document is kept before the services are asked again.
    openapi_cache_seconds: float = Field(default=300.0, ge=0)

    # Habilitations (gateway.habilitations). The convention replica tells which
    # collectivités sign which Caf's conventions; None: service_urls["conventions"].
    conventions_url: str | None = None
    conventions_sync_seconds: float = Field(default=2.0, gt=0)
    # Resolved grants are cached per caller; a change in this process invalidates at
    # once, other gateway instances see it within this TTL.
    grant_cache_seconds: float = Field(default=15.0, ge=0, le=300)
    grant_default_days: int = Field(default=365, ge=1, le=3 * 366)
    invitation_default_days: int = Field(default=7, ge=1, le=30)
    # How often `coop worker` marks grants past their end "expirée" (history written).
    grant_expiry_sweep_seconds: float = Field(default=300.0, gt=0)

    # The access journal (who called which route, when; gateway.journal) is kept this
    # long, then purged (the CNIL recommends 6 months to a year). What is kept about
    # people and why: docs/architecture.md, "What is kept about people".
    access_log_retention_days: int = Field(default=365, ge=1, le=3 * 366)
    # A person's e-mail (and preferences) are erased this long after their last grant
    # ended (revoked, expired, request refused), as are ended invitations' e-mails.
    person_retention_days: int = Field(default=365, ge=1, le=3 * 366)
    # Each gateway process writes its journal rows in one statement this often, off the
    # request path.
    access_journal_flush_seconds: float = Field(default=1.0, gt=0, le=60)
    # Journal rows waiting to be written, at most per process: beyond, new ones are
    # dropped and counted in the log (a stalled database never grows the gateway).
    access_journal_max_pending: int = Field(default=50_000, ge=100)

    @field_validator("oidc_service_account_value")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        try:
            value.format(client_id="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("only the {client_id} placeholder is allowed") from exc
        return value

    @property
    def discovery_url(self) -> str:
        if self.oidc_discovery_url:
            return self.oidc_discovery_url
        return self.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def public_discovery_url(self) -> str:
        if self.oidc_public_discovery_url:
            return self.oidc_public_discovery_url
        return self.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        issuer = urlsplit(self.oidc_issuer)
        if issuer.scheme != "https":
            problems.append("the OIDC issuer is not https (development identity provider?)")
        if issuer.hostname in _LOOPBACK_HOSTS:
            problems.append("the OIDC issuer is a loopback address (development identity provider)")
        if any(
            alg.upper().startswith("HS") or alg.lower() == "none" for alg in self.oidc_algorithms
        ):
            problems.append("symmetric or 'none' algorithms are allowed for access tokens")
        if "*" in self.cors_origins:
            problems.append("CORS allows every origin")
        return problems
