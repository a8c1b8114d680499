"""procrastinate's schema, as procrastinate applies it (`SchemaManager.get_schema()`)

Revision ID: 0001
Revises:
Create Date: 2026-12-04 21:00:00

Upgrading procrastinate: add a revision running, in order, the scripts it ships for the
versions crossed (`SchemaManager.get_migrations_path()`, ``xx.yy.zz_nn_*.sql``), with
`execute_script`.
"""

from collections.abc import Sequence

from procrastinate.schema import SchemaManager

from kernel.job_queue import JOBS_SCHEMA
from kernel.migrations import execute_script

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script(SchemaManager.get_schema(), JOBS_SCHEMA)


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
            procrastinate_workers CASCADE;
        DO $$
        DECLARE f regprocedure;
        BEGIN
            FOR f IN SELECT oid::regprocedure FROM pg_proc
                     WHERE pronamespace = current_schema()::regnamespace LOOP
                EXECUTE 'DROP FUNCTION ' || f::text;
            END LOOP;
        END $$;
        DROP TYPE procrastinate_job_to_defer_v1, procrastinate_job_status,
            procrastinate_job_event_type;
        """,
        JOBS_SCHEMA,
    )
