"""discussions: the comments of a fiche-action's thread and of a suivi's, tombstones
kept in place (text and mentions erased, author and dates kept)

Nothing to move over: the only comment before was a suivi's renvoi, which stays in its
suivi's steps.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commentaires",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("suivi_id", sa.Uuid(), nullable=True),
        sa.Column("periode", sa.String(length=7), nullable=True),
        sa.Column("auteur_id", sa.String(length=200), nullable=False),
        sa.Column("auteur_nom", sa.String(length=300), nullable=True),
        sa.Column("texte", sa.Text(), nullable=True),
        sa.Column(
            "mentions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("actions.next_change_seq()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("modifie_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supprime_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supprime_par", sa.String(length=20), nullable=True),
        sa.CheckConstraint(
            "(texte IS NULL) = (supprime_le IS NOT NULL)",
            name=op.f("ck_commentaires_tombstone"),
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.actions.id"],
            name=op.f("fk_commentaires_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["suivi_id"],
            ["actions.suivis.id"],
            name=op.f("fk_commentaires_suivi_id_suivis"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commentaires")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_commentaires_action_id_suivi_id_created_at_id"),
        "commentaires",
        ["action_id", "suivi_id", "created_at", "id"],
        schema="actions",
    )
    op.create_index(op.f("ix_commentaires_seq"), "commentaires", ["seq"], schema="actions")


def downgrade() -> None:
    op.drop_table("commentaires", schema="actions")
