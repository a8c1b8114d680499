"""Alembic environment of the job queue (schema ``procrastinate``, kernel.job_queue).

procrastinate has no SQLAlchemy models: its revisions run procrastinate's own SQL (its
schema, then the migration scripts it ships with each release)."""

from sqlalchemy import MetaData

from kernel.job_queue import JOBS_SCHEMA
from kernel.migrations import run_env

run_env(MetaData(schema=JOBS_SCHEMA))
