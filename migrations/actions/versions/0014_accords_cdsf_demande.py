"""the Caf asks the collectivités for their CDSF agreement; weekly reminders, once each

`bilans.accords_demandes_le/par`: the request in progress (none for existing bilans);
`rappels_accord_cdsf`: one row per collectivité, bilan and week of the request, the
key that makes each reminder event once.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bilans",
        sa.Column("accords_demandes_le", sa.DateTime(timezone=True), nullable=True),
        schema="actions",
    )
    op.add_column(
        "bilans", sa.Column("accords_demandes_par", sa.String(200), nullable=True), schema="actions"
    )
    op.create_table(
        "rappels_accord_cdsf",
        sa.Column("bilan_id", sa.Uuid(), nullable=False),
        sa.Column("collectivite_id", sa.Uuid(), nullable=False),
        sa.Column("semaine", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bilan_id"],
            ["actions.bilans.id"],
            name=op.f("fk_rappels_accord_cdsf_bilan_id_bilans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "bilan_id", "collectivite_id", "semaine", name=op.f("pk_rappels_accord_cdsf")
        ),
        schema="actions",
    )


def downgrade() -> None:
    op.drop_table("rappels_accord_cdsf", schema="actions")
    op.drop_column("bilans", "accords_demandes_par", schema="actions")
    op.drop_column("bilans", "accords_demandes_le", schema="actions")
