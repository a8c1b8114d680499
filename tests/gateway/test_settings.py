"""The gateway refuses to start in production with development identity settings."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.auth.tokens import AccessTokenVerifier
from gateway.settings import GatewaySettings
from kernel.settings import Environment, ProductionConfigError
from tests.gateway.support import StaticGrantResolver


def test_production_refuses_the_development_issuer() -> None:
    settings = GatewaySettings(environment=Environment.production, database_url="postgresql://x/y")
    problems = settings.production_problems()
    assert any("not https" in p for p in problems)
    assert any("loopback" in p for p in problems)
    with pytest.raises(ProductionConfigError):
        create_app(settings, grant_resolver=StaticGrantResolver())


def test_production_refuses_symmetric_algorithms_and_open_cors() -> None:
    settings = GatewaySettings(
        environment=Environment.production,
        oidc_issuer="https://sso.example.fr/realms/coop",
        oidc_algorithms=["RS256"],
        cors_origins=["*"],
    )
    assert any("CORS" in p for p in settings.production_problems())
    with pytest.raises(ValueError, match="unsupported"):
        AccessTokenVerifier(None, issuer="i", audience="a", algorithms=["HS256"])  # type: ignore[arg-type]


def test_discovery_url_defaults_to_the_issuers_well_known() -> None:
    settings = GatewaySettings(oidc_issuer="https://sso.example.fr/realms/coop/")
    assert settings.discovery_url == (
        "https://sso.example.fr/realms/coop/.well-known/openid-configuration"
    )
