"""Production mode refuses development defaults; env prefixes resolve as documented."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from joserfc.jwk import ECKey
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings, DbBudgetError, ProductionConfigError


class DemoAppSettings(CommonSettings):
    app_name = "gateway"
    model_config = SettingsConfigDict(env_prefix="COOP_DEMOAPP_")


def _real_key() -> tuple[str, str]:
    key = ECKey.generate_key("P-256", private=True)
    return json.dumps(key.as_dict(private=True)), json.dumps(key.as_dict(private=False))


def test_production_refuses_every_development_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = DemoAppSettings(environment="production", debug=True)
    problems = settings.production_problems()
    assert any("debug" in p for p in problems)
    assert any("embedded" in p for p in problems)
    assert any("signing key" in p for p in problems)
    assert any("trusted" in p for p in problems)
    with pytest.raises(ProductionConfigError):
        settings.check()


def test_a_moved_clock_is_for_tests_and_demos_never_production() -> None:
    """COOP_CLOCK moves "now" for the retention rules: in production it would purge
    logs and erase people ahead of their time."""
    private, public = _real_key()
    moved = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    settings = DemoAppSettings(
        environment="production",
        database_url="postgresql://coop@db/coop",
        internal_signing_key=private,
        internal_trusted_keys={"gateway": public},
        clock=moved,
    )
    assert settings.now() == moved
    assert settings.production_problems() == ["a fixed clock is set"]
    with pytest.raises(ProductionConfigError):
        settings.check()
    real = DemoAppSettings().now()
    assert abs(real - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_production_starts_with_real_keys_and_database() -> None:
    private, public = _real_key()
    settings = DemoAppSettings(
        environment="production",
        database_url="postgresql://coop@db/coop",
        internal_signing_key=private,
        internal_trusted_keys={"gateway": public},
    )
    settings.check()
    assert settings.safe_dump()["internal_signing_key"] == "***"
    assert settings.safe_dump()["database_url"] == "***"


def test_app_prefix_wins_over_suite_prefix_and_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COOP_PORT", "9100")
    monkeypatch.setenv("COOP_DEMOAPP_PORT", "9200")
    monkeypatch.setenv("COOP_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    settings = DemoAppSettings()
    assert settings.port == 9200
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "postgresql://from-env/db"


def test_development_defaults_work_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = DemoAppSettings()
    settings.check()  # development: no refusal
    assert settings.database_url is None
    assert set(settings.internal_trusted_keys) >= {"gateway", "conventions", "actions", "documents"}


def test_an_apps_connections_are_shared_out_among_its_workers() -> None:
    """COOP_DB_CONNECTIONS is the app's, every worker together: each gets an equal share,
    half for typed reads, the rest for its engine, so the suite's total does not
    grow with the worker count (four apps of 2 workers × (10 + 10) overran
    PostgreSQL's default 100 connections)."""
    settings = DemoAppSettings(db_connections=32)
    shares = {n: settings.db_budget(n) for n in (1, 2, 3, 4)}
    assert {n: (b.engine, b.reads) for n, b in shares.items()} == {
        1: (16, 16),
        2: (8, 8),
        3: (5, 5),
        4: (4, 4),
    }
    assert all(b.most <= 32 for b in shares.values())
    assert DemoAppSettings(db_connections=7, workers=2).db_budget().most == 6  # (2 + 1) × 2


def test_a_budget_below_two_connections_a_worker_is_refused() -> None:
    with pytest.raises(DbBudgetError) as refused:
        DemoAppSettings(db_connections=6).db_budget(4)
    assert "COOP_DB_CONNECTIONS ≥ 8" in str(refused.value)
