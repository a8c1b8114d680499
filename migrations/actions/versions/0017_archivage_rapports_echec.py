"""bilan reports: the documents service's refusal for good, kept on the bilan

A permanent refusal (a 4xx no retry changes) used to be retried at every run of
`actions.bilans-rapports`, a warning each time; the bilan now records when and why
(French, from the documents service's answer) and the job stops sending it.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bilans",
        sa.Column("rapport_archivage_echec_le", sa.DateTime(timezone=True), nullable=True),
        schema="actions",
    )
    op.add_column(
        "bilans", sa.Column("rapport_archivage_motif", sa.Text(), nullable=True), schema="actions"
    )


def downgrade() -> None:
    op.drop_column("bilans", "rapport_archivage_motif", schema="actions")
    op.drop_column("bilans", "rapport_archivage_echec_le", schema="actions")
