"""Alembic environment of the actions service (schema ``actions``)."""

from kernel.migrations import run_env
from services.actions.models import metadata

run_env(metadata)
