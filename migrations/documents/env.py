"""Alembic environment of the documents service (schema ``documents``)."""

from kernel.migrations import run_env
from services.documents.models import Base

run_env(Base.metadata)
