"""Settings of the development identity provider (env prefix ``COOP_IDP_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings, ProductionConfigError


class DevIdpSettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_IDP_")
    app_name: ClassVar[str] = "idp"

    port: int = 8009
    # None: http://<host>:<port> (what the gateway's default oidc_issuer expects).
    issuer: str | None = None
    # The API identifier put in `aud` (the gateway's oidc_audience).
    audience: str = "coop-api"
    # Signing keys (current + previous), shared with `coop token --as`.
    key_dir: str = ".coop/idp"
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    # How long the gateway may keep the published keys (Cache-Control max-age of /jwks).
    jwks_max_age_seconds: int = Field(default=60, ge=0, le=3600)
    # Public clients of the authorization code + PKCE flow: client_id -> redirect URIs
    # (compared exactly; for http://127.0.0.1 and http://[::1] any port, RFC 8252 §7.3).
    # `coop-console`: the gateway's API console (/docs) on any loopback port.
    public_clients: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "ctg-dans-ma-poche": [
                "fr.caf.ctgdansmapoche:/oauth2redirect",
                "http://127.0.0.1/callback",
            ],
            "coop-console": [
                "http://127.0.0.1/docs/oauth2-redirect",
                "http://localhost:8000/docs/oauth2-redirect",
            ],
        }
    )
    # Browser origins of the API console (the gateway's), allowed by CORS on discovery,
    # JWKS and the token endpoint; never on the sign-in page or the /dev shortcuts.
    console_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    # Lifetime of an authorization code (single use).
    authorization_code_ttl_seconds: int = Field(default=60, ge=5, le=600)
    # Demo machine clients (client_credentials): client_id -> secret.
    client_secrets: dict[str, str] = Field(
        default_factory=lambda: {
            "partenaire": "partenaire-dev-secret",
            "back-office": "back-office-dev-secret",
        }
    )
    # Password of every demo persona (grant_type=password).
    persona_password: str = "demo"  # noqa: S105 (development-only demo password)

    @model_validator(mode="after")
    def _never_in_production(self) -> DevIdpSettings:
        if self.is_production:
            raise ProductionConfigError(
                "the development identity provider cannot run in production"
            )
        return self

    @property
    def issuer_url(self) -> str:
        return (self.issuer or f"http://{self.host}:{self.port}").rstrip("/")
