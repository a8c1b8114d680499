"""Alembic environment of the conventions service (schema ``conventions``)."""

from kernel.migrations import run_env
from services.conventions.models import Base

run_env(Base.metadata)
