"""campaign reminders: one row per person, object, campaign and step (exactly once)

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

S = "notifications"


def upgrade() -> None:
    op.create_table(
        "rappels",
        sa.Column("personne_id", sa.Uuid(), nullable=False),
        sa.Column("objet_id", sa.Uuid(), nullable=False),
        sa.Column("periode", sa.String(7), nullable=False),
        sa.Column("etape", sa.String(20), nullable=False),
        sa.Column("destinataire", sa.String(10), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("convention_titre", sa.Text(), nullable=False),
        sa.Column("titre", sa.Text(), nullable=False),
        sa.Column("nombre", sa.Integer(), nullable=True),
        sa.Column("date_limite", sa.Date(), nullable=False),
        sa.Column("caf_id", sa.Uuid(), nullable=False),
        sa.Column("nom", sa.String(300), nullable=True),
        sa.Column("adresse", sa.String(320), nullable=True),
        sa.Column("cree_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint(
            "personne_id", "objet_id", "periode", "etape", name=op.f("pk_rappels")
        ),
        schema=S,
    )
    op.create_index(
        "ix_rappels_a_grouper",
        "rappels",
        ["personne_id"],
        schema=S,
        postgresql_where=sa.text("notification_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("rappels", schema=S)
