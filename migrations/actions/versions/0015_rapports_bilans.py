"""bilan reports (issue 26): an adopted bilan's report, fixed at adoption, and when it
was kept as documents of the convention

Bilans adopted before have none stored: theirs is built from their `instantane` and
archived by the worker's `actions.bilans-rapports` job (services/actions/jobs.py).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bilans", sa.Column("rapport", postgresql.JSONB(), nullable=True), schema="actions"
    )
    op.add_column(
        "bilans",
        sa.Column("rapport_archive_le", sa.DateTime(timezone=True), nullable=True),
        schema="actions",
    )


def downgrade() -> None:
    op.drop_column("bilans", "rapport_archive_le", schema="actions")
    op.drop_column("bilans", "rapport", schema="actions")
