"""large exports run as jobs: the request, its state, and its file in pieces

`exports`: one row per export asked for (a Caf's campaign...), its requester, state
and expiry; `export_morceaux`: its file, about 1 MiB per row, written by the job
`actions.exports` in the transaction that marks it ready, deleted with it
(`actions.export-purge`, 24 h after it is ready).

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("demandeur_id", sa.String(200), nullable=False),
        sa.Column("demandeur", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("parametres", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("etat", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("nom_fichier", sa.String(255), nullable=False),
        sa.Column("titre", sa.String(300), nullable=False),
        sa.Column("taille", sa.BigInteger(), nullable=True),
        sa.Column("tentatives", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("debut_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fini_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expire_le", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exports"),
        schema="actions",
    )
    op.create_index(
        "ix_exports_demandeur_id_created_at_id",
        "exports",
        ["demandeur_id", "created_at", "id"],
        schema="actions",
    )
    op.create_index(
        "ix_exports_etat_created_at", "exports", ["etat", "created_at"], schema="actions"
    )
    op.create_index("ix_exports_expire_le", "exports", ["expire_le"], schema="actions")
    op.create_table(
        "export_morceaux",
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("numero", sa.Integer(), nullable=False),
        sa.Column("donnees", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["actions.exports.id"],
            name="fk_export_morceaux_export_id_exports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "numero", name="pk_export_morceaux"),
        schema="actions",
    )
    # A spreadsheet is already compressed (zip): no second, futile compression by TOAST.
    op.execute("ALTER TABLE actions.export_morceaux ALTER COLUMN donnees SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("export_morceaux", schema="actions")
    op.drop_table("exports", schema="actions")
