"""bilans read back the `syntheses` older clients still send (deprecated input)

/api/v1 promises additive changes: `syntheses` (per axe) is accepted again and forms
the kind's first section, as migration 0004 made of the existing ones; what a client
sent is kept here so that it reads it back. Existing bilans: {} (0004 already put
their syntheses in the first section, and dropped the per-axe column).

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
        "bilans",
        sa.Column(
            "syntheses",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema="actions",
    )


def downgrade() -> None:
    op.drop_column("bilans", "syntheses", schema="actions")
