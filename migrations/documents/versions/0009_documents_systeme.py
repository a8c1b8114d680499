"""documents the suite produces itself (issue 26): an adopted bilan's report, kept once
per key (`cle_systeme`), read by the convention's readers, changed by nobody

Existing documents are the users' own: NULL.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "document", sa.Column("cle_systeme", sa.String(120), nullable=True), schema="documents"
    )
    op.create_unique_constraint(
        "uq_document_cle_systeme", "document", ["cle_systeme"], schema="documents"
    )


def downgrade() -> None:
    op.drop_constraint("uq_document_cle_systeme", "document", schema="documents")
    op.drop_column("document", "cle_systeme", schema="documents")
