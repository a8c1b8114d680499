"""change sequence numbers allocated in commit order (delta sync never skips a change)

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("axes", "actions", "indicateurs", "suivis", "bilans", "tombstones")


def upgrade() -> None:
    # A writer takes the lock with its first number and keeps it until it commits, so
    # numbers become visible in order; a sync token is read under the shared lock
    # (services/actions/repository.py current_seq), after in-flight writers commit.
    op.execute(
        """
        CREATE FUNCTION actions.next_change_seq() RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('coop.actions.change_seq'));
            RETURN nextval('actions.change_seq');
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"ALTER TABLE actions.{table} ALTER COLUMN seq SET DEFAULT actions.next_change_seq()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(
            f"ALTER TABLE actions.{table} ALTER COLUMN seq "
            "SET DEFAULT nextval('actions.change_seq')"
        )
    op.execute("DROP FUNCTION actions.next_change_seq()")
