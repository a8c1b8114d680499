"""scan errors: a version records clamd's error replies and why it is not downloadable

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("version", sa.Column("motif", sa.String(length=400)), schema="documents")
    op.add_column(
        "version",
        sa.Column("echecs_analyse", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="documents",
    )
    # Versions rejected before this revision were all infected: same wording as the service.
    op.execute(
        "UPDATE documents.version SET motif = 'Menace détectée par l''antivirus : ' || signature "
        "WHERE statut = 'rejeté' AND signature IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("version", "echecs_analyse", schema="documents")
    op.drop_column("version", "motif", schema="documents")
