"""Grant histories name their actors (issue 24): the client they used, and the names of
the persons who acted before the display name was recorded

Rows written through the API named the actor by id (`actor_label` = the person's id):
they now carry the name the gateway last recorded for that person. The CLI's, the
jobs' and the demo's rows keep their labels. The client used was not recorded: null.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "grant_events",
        sa.Column("actor_client", sa.String(length=255), nullable=True),
        schema="gateway",
    )
    # The one rewrite the table will ever see, by the migration (its owner).
    op.execute("ALTER TABLE gateway.grant_events DISABLE TRIGGER grant_events_append_only")
    op.execute(
        """
        UPDATE gateway.grant_events e SET actor_label = p.name
        FROM gateway.persons p
        WHERE p.id = e.actor_id AND e.actor_label = e.actor_id::text AND p.name IS NOT NULL
        """
    )
    op.execute("ALTER TABLE gateway.grant_events ENABLE TRIGGER grant_events_append_only")


def downgrade() -> None:
    op.drop_column("grant_events", "actor_client", schema="gateway")
