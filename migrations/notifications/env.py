"""Alembic environment of the notifications service (schema ``notifications``)."""

from kernel.migrations import run_env
from services.notifications.models import metadata

run_env(metadata)
