"""The apps of the suite, as the CLI starts, migrates and serves them."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.jobs import JobSource


@dataclass(frozen=True)
class AppSpec:
    name: str
    # "module:callable" returning the FastAPI app (the server calls it in each worker).
    factory: str
    # "module:Class" of the app's settings (a kernel.settings.CommonSettings subclass).
    settings: str
    # Folder under migrations/ holding the app's own Alembic tree (None: no tables).
    migrations: str | None
    default_port: int
    # "module:callable" giving the app's periodic jobs (a kernel.jobs.JobSource), run by
    # `coop worker`; None: the app has none.
    jobs: str | None = None

    @property
    def env_prefix(self) -> str:
        return f"COOP_{self.name.upper()}_"

    @property
    def probe_path(self) -> str:
        # Apps with a database answer /readyz once it is reachable; the IdP has none.
        return "/readyz" if self.migrations else "/healthz"

    def serve_argv(self) -> list[str]:
        """`coop serve <app>` with this interpreter: how `coop run` and tests start it."""
        return [sys.executable, "-m", "coop.cli", "serve", self.name]

    def settings_class(self) -> Any:
        module, _, attr = self.settings.partition(":")
        return getattr(importlib.import_module(module), attr)

    def job_source(self) -> JobSource | None:
        if self.jobs is None:
            return None
        module, _, attr = self.jobs.partition(":")
        source: JobSource = getattr(importlib.import_module(module), attr)
        return source


# Order matters: `coop run` starts them in this order, `coop migrate` migrates in it.
APPS: dict[str, AppSpec] = {
    spec.name: spec
    for spec in (
        AppSpec(
            name="idp",
            factory="gateway.devidp.app:create_app",
            settings="gateway.devidp.settings:DevIdpSettings",
            migrations=None,
            default_port=8009,
        ),
        AppSpec(
            name="conventions",
            factory="services.conventions.app:create_app",
            settings="services.conventions.settings:ConventionsSettings",
            migrations="conventions",
            default_port=8001,
            jobs="services.conventions.jobs:periodic_jobs",
        ),
        AppSpec(
            name="documents",
            factory="services.documents.app:create_app",
            settings="services.documents.settings:DocumentsSettings",
            migrations="documents",
            default_port=8003,
            jobs="services.documents.jobs:periodic_jobs",
        ),
        AppSpec(
            name="actions",
            factory="services.actions.app:create_app",
            settings="services.actions.settings:ActionsSettings",
            migrations="actions",
            default_port=8002,
            jobs="services.actions.jobs:periodic_jobs",
        ),
        AppSpec(
            name="notifications",
            factory="services.notifications.app:create_app",
            settings="services.notifications.settings:NotificationsSettings",
            migrations="notifications",
            default_port=8004,
            jobs="services.notifications.jobs:periodic_jobs",
        ),
        AppSpec(
            name="gateway",
            factory="gateway.app:create_app",
            settings="gateway.settings:GatewaySettings",
            # Habilitations (persons, clients, grants, invitations, access requests).
            migrations="gateway",
            default_port=8000,
            jobs="gateway.habilitations.jobs:periodic_jobs",
        ),
    )
}


# The job queue's own tree (schema `procrastinate`, kernel.job_queue), migrated last.
JOBS_MIGRATIONS = "procrastinate"


def migration_trees() -> list[str]:
    return [*(spec.migrations for spec in APPS.values() if spec.migrations), JOBS_MIGRATIONS]
