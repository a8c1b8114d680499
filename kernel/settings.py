"""Settings base shared by every app.

Each app subclasses `CommonSettings` with its own env prefix (``COOP_CONVENTIONS_``...).
A value can also be given once for the whole suite with the ``COOP_`` prefix
(``COOP_ENVIRONMENT=production``), and ``DATABASE_URL`` is honoured as the
conventional fallback for the database.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from kernel import dev_keys

MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """The cores this process may run on, at most 4 (past that, run more replicas)."""
    try:
        cores = len(os.sched_getaffinity(0))  # a container's cpuset, not the host's count
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


@dataclass(frozen=True)
class DbBudget:
    """An app's PostgreSQL connections shared out among its worker processes."""

    connections: int  # the app's budget (COOP_DB_CONNECTIONS), every worker together
    workers: int
    engine: int  # per worker: the engine's pool (sessions, the gateway's grant listener)
    reads: int  # per worker: typed reads' pool (kernel.database.ReadPool)

    @property
    def most(self) -> int:
        """Connections the app's workers may hold together: never above `connections`."""
        return self.workers * (self.engine + self.reads)


class DbBudgetError(ValueError):
    """A budget too small for the worker count (the message is for the operator)."""


class Environment(StrEnum):
    development = "development"
    production = "production"


class ProductionConfigError(RuntimeError):
    """Raised at start-up when production mode meets a development default."""


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_")

    # Name used as internal token issuer/audience and in logs ("conventions", "gateway"...).
    app_name: ClassVar[str] = "app"

    environment: Environment = Environment.development
    debug: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    # None means: embedded PostgreSQL (development only), see kernel.embedded_db.
    database_url: str | None = None
    embedded_data_dir: str = ".coop/pgdata"
    # PostgreSQL connections this app holds at most, all its worker processes together:
    # each worker gets db_connections // workers, half for typed reads, the rest for
    # its engine's pool. Every app's, plus the job worker's, must fit max_connections.
    db_connections: int = Field(default=32, ge=2, le=2000)
    # A request waits this long at most for a pooled connection, then gets a 503.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # Opening a PostgreSQL connection: a server that accepts and never answers (frozen,
    # not down) is given up after this long (503).
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    # A typed read's statement (the hot reads of safe requests): PostgreSQL cancels
    # one running this long (statement_timeout), and the app stops waiting for a server
    # that does not answer at all half a second later (503).
    db_read_statement_timeout_seconds: float = Field(default=3.0, gt=0, le=300)
    # Every other statement (writes, ORM reads), the same way: a little longer.
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    log_level: str = "INFO"

    # Serving (kernel.server). Worker processes: None is the machine's cores, at most 4
    # (`coop serve --workers N` sets it for its workers).
    workers: int | None = Field(default=None, ge=1, le=64)
    # A client has this long to send a request's line and headers, else it is cut off.
    header_read_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Request line and headers together, at most (431 beyond; a few KiB is usual).
    max_header_bytes: int = Field(default=32 * 1024, ge=8 * 1024, le=1024 * 1024)
    # Longest wait for the next piece of a request body once it has started (408).
    body_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Prometheus' /metrics, never on the public port: this internal address and port
    # (None: the app's port + 1000).
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # Internal identity: this app's signing key (private JWK, JSON) and the public keys
    # it trusts, by issuer name. Defaults are development keys, refused in production.
    internal_signing_key: str = Field(default_factory=lambda: "")
    internal_trusted_keys: dict[str, str] = Field(default_factory=dict)
    internal_token_ttl_seconds: int = Field(default=30, ge=1, le=60)
    # How long an Idempotency-Key is remembered (kernel.idempotency), then purged.
    idempotency_retention_hours: int = Field(default=24, ge=1, le=24 * 30)
    # How often each app's retention rules run (kernel.retention, `coop worker`): rows
    # past their period are purged, people long gone erased.
    retention_sweep_seconds: float = Field(default=3600.0, gt=0)
    # Delivery logs (each e-mail sent and its state) are kept this long, then purged.
    delivery_log_retention_days: int = Field(default=365, ge=1, le=3 * 366)
    # Domain events (kernel.outbox) are kept this long, then purged: their followers
    # read them within seconds; an invitation's holds the invitee's address and token.
    event_retention_days: int = Field(default=30, ge=1, le=366)
    # The time scheduled work takes as now (retention rules): tests and demos move it
    # instead of waiting. None is the real clock; refused in production.
    clock: AwareDatetime | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # App prefix first, then the suite-wide COOP_ prefix.
        suite_wide = EnvSettingsSource(settings_cls, env_prefix="COOP_")
        return (init_settings, env_settings, suite_wide, file_secret_settings)

    @model_validator(mode="after")
    def _fill_defaults(self) -> CommonSettings:
        if self.database_url is None and os.environ.get("DATABASE_URL"):
            self.database_url = os.environ["DATABASE_URL"]
        if not self.internal_signing_key:
            self.internal_signing_key = dev_keys.private_jwk(self.app_name)
        if not self.internal_trusted_keys:
            self.internal_trusted_keys = dev_keys.all_public_jwks()
        return self

    def now(self) -> dt.datetime:
        """Now, for scheduled work: the real clock unless `clock` moves it."""
        return self.clock or dt.datetime.now(dt.UTC)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.production

    def production_problems(self) -> list[str]:
        """Development defaults that production must not run with."""
        problems: list[str] = []
        if self.debug:
            problems.append("debug is on")
        if self.database_url is None:
            problems.append("no database URL (embedded PostgreSQL is development-only)")
        if self.clock is not None:
            problems.append("a fixed clock is set")
        if dev_keys.is_dev_key(self.internal_signing_key):
            problems.append("internal signing key is a development key")
        dev_trusted = [
            iss for iss, jwk in self.internal_trusted_keys.items() if dev_keys.is_dev_key(jwk)
        ]
        if dev_trusted:
            problems.append(f"development keys trusted for: {', '.join(sorted(dev_trusted))}")
        return problems

    def db_budget(self, workers: int | None = None) -> DbBudget:
        """Each of `workers` processes (else the setting, else `default_workers()`) gets
        db_connections // workers connections: half of them, rounded down, for typed
        reads, the rest for the engine's pool (no overflow)."""
        count = workers or self.workers or default_workers()
        share = self.db_connections // count
        if share < 2:
            raise DbBudgetError(
                f"{self.app_name} : {self.db_connections} connexions PostgreSQL pour {count} "
                f"processus, il en faut au moins 2 par processus (COOP_DB_CONNECTIONS ≥ "
                f"{2 * count})"
            )
        return DbBudget(self.db_connections, count, share - share // 2, share // 2)

    def check(self) -> None:
        """Refuse to start in production with development defaults."""
        if self.is_production:
            problems = self.production_problems()
            if problems:
                raise ProductionConfigError(
                    "refusing to start in production: " + "; ".join(problems)
                )

    def safe_dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["internal_signing_key"] = "***"
        if data.get("database_url"):
            data["database_url"] = "***"
        return data
