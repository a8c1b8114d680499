"""Run an app in-process (lifespan included) behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from prometheus_client import generate_latest


@asynccontextmanager
async def running(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        # Errors come back as the 500 problem a client would see, not as raised exceptions.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def metrics_text(app: FastAPI) -> str:
    """The app's metrics as Prometheus reads them (served on the internal port only)."""
    return generate_latest(app.state.metrics.registry).decode()
