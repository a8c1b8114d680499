"""a purged document keeps its record (metadata), never its content

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Documents purged before this revision were deleted with their versions: nothing to
    # migrate.
    op.add_column("document", sa.Column("purge_le", sa.DateTime(timezone=True)), schema="documents")


def downgrade() -> None:
    op.execute("DELETE FROM documents.document WHERE purge_le IS NOT NULL")
    op.drop_column("document", "purge_le", schema="documents")
