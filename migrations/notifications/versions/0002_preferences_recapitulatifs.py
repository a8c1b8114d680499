"""preferences per person and family (the unsubscriptions become "désactivé"), the
items held for the daily and weekly digests, and the digests' exactly-once key on the
delivery log

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notifications"


def upgrade() -> None:
    op.create_table(
        "preferences",
        sa.Column("personne_id", sa.Uuid(), nullable=False),
        sa.Column("famille", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column(
            "modifiee_le",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("personne_id", "famille", name=op.f("pk_preferences")),
        schema=S,
    )
    # Each unsubscription is the family set to "désactivé", as of when it was made.
    op.execute(
        "INSERT INTO notifications.preferences (personne_id, famille, mode, modifiee_le) "
        "SELECT personne_id, famille, 'désactivé', le FROM notifications.desabonnements"
    )
    op.drop_table("desabonnements", schema=S)

    op.alter_column(
        "envois", "famille", existing_type=sa.String(length=40), nullable=True, schema=S
    )
    op.add_column("envois", sa.Column("echeance", sa.DateTime(timezone=True)), schema=S)
    op.create_unique_constraint(
        op.f("uq_envois_personne_id_echeance"), "envois", ["personne_id", "echeance"], schema=S
    )
    op.create_table(
        "elements_recapitulatif",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("personne_id", sa.Uuid(), nullable=False),
        sa.Column("adresse", sa.String(length=320), nullable=False),
        sa.Column("nom", sa.String(length=300), nullable=True),
        sa.Column("famille", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("evenement_id", sa.Uuid(), nullable=False),
        sa.Column("titre", sa.String(length=300), nullable=False),
        sa.Column("lien", sa.String(length=1000), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=True),
        sa.Column("caf_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("cree_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envoi_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["envoi_id"],
            [f"{S}.envois.id"],
            name=op.f("fk_elements_recapitulatif_envoi_id_envois"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elements_recapitulatif")),
        sa.UniqueConstraint(
            "personne_id",
            "source",
            "evenement_id",
            name=op.f("uq_elements_recapitulatif_personne_id_source_evenement_id"),
        ),
        schema=S,
    )
    op.create_index(
        "ix_elements_recapitulatif_en_attente",
        "elements_recapitulatif",
        ["personne_id", "cree_le"],
        schema=S,
        postgresql_where=sa.text("envoi_id IS NULL"),
    )
    op.create_index(
        op.f("ix_elements_recapitulatif_envoi_id"),
        "elements_recapitulatif",
        ["envoi_id"],
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("elements_recapitulatif", schema=S)
    op.drop_constraint(op.f("uq_envois_personne_id_echeance"), "envois", schema=S)
    op.execute("DELETE FROM notifications.envois WHERE famille IS NULL")
    op.drop_column("envois", "echeance", schema=S)
    op.alter_column(
        "envois", "famille", existing_type=sa.String(length=40), nullable=False, schema=S
    )
    op.create_table(
        "desabonnements",
        sa.Column("personne_id", sa.Uuid(), nullable=False),
        sa.Column("famille", sa.String(length=40), nullable=False),
        sa.Column(
            "le", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("personne_id", "famille", name=op.f("pk_desabonnements")),
        schema=S,
    )
    op.execute(
        "INSERT INTO notifications.desabonnements (personne_id, famille, le) SELECT "
        "personne_id, famille, modifiee_le FROM notifications.preferences "
        "WHERE mode = 'désactivé'"
    )
    op.drop_table("preferences", schema=S)
