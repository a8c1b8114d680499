"""The history of everything (kernel.history): `historique` replaces `evenement`,
append-only, with the author's name and the client used

Existing rows move over with their ids, as lifecycle events of their convention (no
per-field changes were recorded then). Their author's name is filled in where the
gateway's schema, in the same database, knows the person (the name they last logged in
with) or the machine client; the client they used was not recorded: null.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kernel.migrations import create_history, name_former_authors

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history("conventions")
    op.execute(
        """
        INSERT INTO conventions.historique
            (id, convention_id, objet_type, objet_id, evenement, changements, motif,
             details, auteur_id, le)
        SELECT id, convention_id, 'convention', convention_id, transition, '[]'::jsonb,
               motif, details, auteur, le
        FROM conventions.evenement
        """
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('conventions.historique', 'id'), "
        "COALESCE((SELECT max(id) FROM conventions.historique), 0) + 1, false)"
    )
    name_former_authors("conventions.historique", "historique_append_only")
    op.drop_index(
        op.f("ix_evenement_convention_id_id"), table_name="evenement", schema="conventions"
    )
    op.drop_table("evenement", schema="conventions")


def downgrade() -> None:
    op.create_table(
        "evenement",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("transition", sa.String(length=40), nullable=False),
        sa.Column("auteur", sa.String(length=200), nullable=False),
        sa.Column(
            "le", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("motif", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["convention_id"],
            ["conventions.convention.id"],
            name=op.f("fk_evenement_convention_id_convention"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evenement")),
        schema="conventions",
    )
    op.create_index(
        op.f("ix_evenement_convention_id_id"),
        "evenement",
        ["convention_id", "id"],
        unique=False,
        schema="conventions",
    )
    # The convention's own rows go back (lifecycle steps); the others had no table.
    op.execute(
        """
        INSERT INTO conventions.evenement (id, convention_id, transition, auteur, le, motif,
                                           details)
        SELECT id, convention_id, left(evenement, 40), auteur_id, le, motif, details
        FROM conventions.historique WHERE objet_type = 'convention'
        """
    )
    op.drop_table("historique", schema="conventions")
    op.execute("DROP FUNCTION conventions.refuse_rewriting_history()")
