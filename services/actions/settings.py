"""Settings of the actions service (env prefix ``COOP_ACTIONS_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings


class ActionsSettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_ACTIONS_")
    app_name: ClassVar[str] = "actions"

    port: int = 8002
    # Where the conventions service's internal feed lives, and how often `coop worker`
    # polls it (whole seconds dividing a minute, minutes dividing an hour...).
    conventions_url: str = "http://127.0.0.1:8001"
    conventions_sync_seconds: float = Field(default=2.0, gt=0)
    # The gateway's internal routes (who reads a convention: mentions in discussions),
    # and how long a call may take before the request answers 503.
    gateway_url: str = "http://127.0.0.1:8000"
    gateway_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    # The documents service (adopted bilans' reports kept as documents) and how often
    # `coop worker` sends those not kept yet.
    documents_url: str = "http://127.0.0.1:8003"
    rapports_archive_seconds: float = Field(default=30.0, gt=0)
    # Default due date of a quarterly campaign: this many days after the quarter ends.
    campagne_delai_jours: int = Field(default=15, ge=0, le=120)
    # How often `coop worker` looks for the CDSF agreements' weekly reminders due.
    cdsf_reminders_seconds: float = Field(default=3600.0, gt=0)
    # How often `coop worker` looks for large exports asked for (`POST /api/v1/exports`).
    exports_seconds: float = Field(default=2.0, gt=0)
