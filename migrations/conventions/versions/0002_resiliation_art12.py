"""résiliation as art. 12 writes it (initiating party, mises en demeure), CTG recorded
as already signed

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

S = "conventions"


def upgrade() -> None:
    op.create_table(
        "mise_en_demeure",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("date_envoi", sa.Date(), nullable=False),
        sa.Column("emetteur_id", sa.Uuid(), nullable=False),
        sa.Column("destinataire_id", sa.Uuid(), nullable=False),
        sa.Column("fondement", sa.String(length=80), nullable=False),
        sa.Column("obligations", sa.Text(), nullable=False),
        sa.Column("lettre_document_id", sa.Uuid(), nullable=True),
        sa.Column("statut", sa.String(length=40), nullable=False),
        sa.Column("date_cloture", sa.Date(), nullable=True),
        sa.Column("motif_cloture", sa.Text(), nullable=True),
        sa.Column("auteur", sa.String(length=200), nullable=False),
        sa.Column(
            "cree_le", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["convention_id"],
            [f"{S}.convention.id"],
            name=op.f("fk_mise_en_demeure_convention_id_convention"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["emetteur_id"],
            [f"{S}.organisation.id"],
            name=op.f("fk_mise_en_demeure_emetteur_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["destinataire_id"],
            [f"{S}.organisation.id"],
            name=op.f("fk_mise_en_demeure_destinataire_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mise_en_demeure")),
        schema=S,
    )
    op.create_index(
        op.f("ix_mise_en_demeure_convention_id_date_envoi"),
        "mise_en_demeure",
        ["convention_id", "date_envoi"],
        unique=False,
        schema=S,
    )
    op.add_column(
        "convention", sa.Column("resiliation_initiateur_id", sa.Uuid(), nullable=True), schema=S
    )
    op.add_column(
        "convention",
        sa.Column("resiliation_mise_en_demeure_id", sa.Uuid(), nullable=True),
        schema=S,
    )
    op.add_column(
        "convention",
        sa.Column("ctg_existante", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema=S,
    )
    op.create_foreign_key(
        op.f("fk_convention_resiliation_initiateur_id_organisation"),
        "convention",
        "organisation",
        ["resiliation_initiateur_id"],
        ["id"],
        source_schema=S,
        referent_schema=S,
    )
    op.create_foreign_key(
        op.f("fk_convention_resiliation_mise_en_demeure_id_mise_en_demeure"),
        "convention",
        "mise_en_demeure",
        ["resiliation_mise_en_demeure_id"],
        ["id"],
        source_schema=S,
        referent_schema=S,
    )
    # Existing résiliations, with what is known. Art. 12: "résiliée de plein droit par la
    # Caf, sans qu'il soit besoin de procéder à une mise en demeure": the Caf initiated
    # those. Who sent a mise en demeure, or gave notice, was never recorded: unknown
    # (NULL); their letter's date stays the résiliation's date_notification.
    op.execute(
        f"UPDATE {S}.convention SET resiliation_initiateur_id = caf_id"  # noqa: S608 (fixed names)
        " WHERE resiliation_mode = 'sans mise en demeure'"
    )
    # "Résiliation par consentement mutuel" is art. 12's heading for a dénonciation with
    # six months' notice by either party: the product now calls it by what it is.
    op.execute(
        f"UPDATE {S}.convention SET resiliation_mode = 'dénonciation'"  # noqa: S608
        " WHERE resiliation_mode = 'consentement mutuel'"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE {S}.convention SET resiliation_mode = 'consentement mutuel'"  # noqa: S608
        " WHERE resiliation_mode = 'dénonciation'"
    )
    op.drop_constraint(
        op.f("fk_convention_resiliation_mise_en_demeure_id_mise_en_demeure"),
        "convention",
        schema=S,
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_convention_resiliation_initiateur_id_organisation"),
        "convention",
        schema=S,
        type_="foreignkey",
    )
    op.drop_column("convention", "ctg_existante", schema=S)
    op.drop_column("convention", "resiliation_mise_en_demeure_id", schema=S)
    op.drop_column("convention", "resiliation_initiateur_id", schema=S)
    op.drop_index(
        op.f("ix_mise_en_demeure_convention_id_date_envoi"), table_name="mise_en_demeure", schema=S
    )
    op.drop_table("mise_en_demeure", schema=S)
