"""the replica names each convention's organisations

`noms` (kernel.convention_ref.ConventionRef): the Caf's and each signataire's name, by
id, shown beside the ids this app stores. Existing rows: empty until the conventions
service sends them again (its migration 0006 gives every convention a new change
number, so the next catch-up fills them all).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "convention_ref",
        sa.Column(
            "noms",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema="documents",
    )


def downgrade() -> None:
    op.drop_column("convention_ref", "noms", schema="documents")
