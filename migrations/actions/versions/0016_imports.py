"""actions gain their référence; imports of a plan d'actions (dry run, report, commit)

`actions.reference` ("1.2"), unique in its convention once given (partial unique
index). Existing actions keep NULL: their position is no identifier (it changes when the
plan is reordered) and a derived "axe.rang" would not be the numbering the Cafs already
use in their own files; the Caf sets it (PATCH, or an import that names the action).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("actions", sa.Column("reference", sa.String(20)), schema="actions")
    op.create_index(
        "ix_actions_convention_id_reference",
        "actions",
        ["convention_id", "reference"],
        unique=True,
        schema="actions",
        postgresql_where=sa.text("reference IS NOT NULL"),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("auteur_id", sa.String(200), nullable=False),
        sa.Column("nom_fichier", sa.String(255), nullable=False),
        sa.Column("type_fichier", sa.String(100), nullable=False),
        sa.Column("contenu", sa.LargeBinary(), nullable=False),
        sa.Column("correspondance", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("confirmee", sa.Boolean(), nullable=False),
        sa.Column("rapport", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("empreinte_plan", sa.String(64), nullable=False),
        sa.Column("etat", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expire_le", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
        schema="actions",
    )
    op.create_index(
        "ix_imports_convention_id_auteur_id",
        "imports",
        ["convention_id", "auteur_id"],
        schema="actions",
    )
    op.create_index("ix_imports_expire_le", "imports", ["expire_le"], schema="actions")


def downgrade() -> None:
    op.drop_table("imports", schema="actions")
    op.drop_index("ix_actions_convention_id_reference", "actions", schema="actions")
    op.drop_column("actions", "reference", schema="actions")
