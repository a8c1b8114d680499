"""Settings of the conventions service (env prefix ``COOP_CONVENTIONS_``)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings


class ConventionsSettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_CONVENTIONS_")
    app_name: ClassVar[str] = "conventions"

    port: int = 8001
    # Fixed "today" for tests and demos; None means the real date (Europe/Paris is not
    # needed: dates are compared at day granularity, UTC is close enough for a CTG).
    today: dt.date | None = None
    # The actions service, asked whether the bilan final is adopted before a renewal.
    actions_url: str = "http://127.0.0.1:8002"
    # Past this many seconds (to connect, or for its answer) the renewal answers 503.
    actions_timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.today is not None:
            problems.append("a fixed date (today) is set")
        return problems

    def current_date(self) -> dt.date:
        return self.today or dt.datetime.now(dt.UTC).date()
