"""Alembic environment of the gateway (schema ``gateway``)."""

from gateway.habilitations.models import metadata
from kernel.migrations import run_env

run_env(metadata)
