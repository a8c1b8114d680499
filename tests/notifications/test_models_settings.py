"""The notifications schema as the models say and the migration makes it; production
refuses the development SMTP server and the development secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.settings import ProductionConfigError
from services.notifications.models import metadata
from services.notifications.settings import NotificationsSettings, SmtpSecurity
from tests.support.migrations import schema_differences


async def test_models_and_migrations_describe_the_same_schema(db_engine: AsyncEngine) -> None:
    assert await schema_differences(db_engine, metadata) == []


def _production(**overrides: object) -> NotificationsSettings:
    values: dict[str, object] = {
        "environment": "production",
        "database_url": "postgresql://coop:x@db/coop",
        "internal_trusted_keys": {},
        "smtp_host": "smtp.example.org",
        "smtp_port": 587,
        "smtp_security": SmtpSecurity.starttls,
        "unsubscribe_secret": SecretStr("long and random"),
        "app_base_url": "https://ctg.example.org",
        "api_base_url": "https://api.example.org",
    }
    values.update(overrides)
    return NotificationsSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"smtp_host": "127.0.0.1"}, "development one"),
        ({"smtp_port": 8025}, "development one"),
        ({"smtp_security": SmtpSecurity.aucune}, "without TLS"),
        ({"unsubscribe_secret": SecretStr("dev-unsubscribe-secret-not-for-production")}, "secret"),
        ({"app_base_url": "http://ctg.example.org"}, "app_base_url"),
    ],
)
def test_production_refuses_the_development_mail_settings(
    override: dict[str, object], problem: str
) -> None:
    settings = _production(**override)
    with pytest.raises(ProductionConfigError, match=problem):
        settings.check()
