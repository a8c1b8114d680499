"""notify grant changes (cross-process cache invalidation)

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION gateway.notify_grant_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- Delivered at commit to every listening gateway (gateway/habilitations/notify.py).
            PERFORM pg_notify('coop_habilitations', TG_OP);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER grants_notify
        AFTER INSERT OR UPDATE OR DELETE ON gateway.grants
        FOR EACH STATEMENT EXECUTE FUNCTION gateway.notify_grant_change()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER grants_notify ON gateway.grants")
    op.execute("DROP FUNCTION gateway.notify_grant_change()")
