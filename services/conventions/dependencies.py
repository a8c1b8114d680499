"""FastAPI dependencies of the conventions service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request

from kernel.bilan_ref import BilanRefClient
from services.conventions.settings import ConventionsSettings


async def today(request: Request) -> dt.date:
    """The date rules are evaluated at (fixed in tests through the settings)."""
    settings: ConventionsSettings = request.app.state.settings
    return settings.current_date()


Today = Annotated[dt.date, Depends(today)]


async def bilans(request: Request) -> BilanRefClient:
    """The actions service's bilans, read before a renewal (built in the lifespan)."""
    client: BilanRefClient = request.app.state.bilans
    return client


Bilans = Annotated[BilanRefClient, Depends(bilans)]
