"""indicator values get a version (their own ETag: PUT replaces one only with If-Match)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing values start at version 1, like a value just created.
    op.add_column(
        "valeurs_indicateurs",
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        schema="actions",
    )


def downgrade() -> None:
    op.drop_column("valeurs_indicateurs", "version", schema="actions")
