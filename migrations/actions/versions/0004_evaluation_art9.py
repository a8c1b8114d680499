"""evaluation as art. 9 writes it: bilans get the sections of their kind and who entered
the adoption; indicators may hang on an axe or on the convention itself

Existing bilans: the free-form syntheses per axe become the kind's first section
(point d'étape: état d'avancement; intermédiaire: avancées; final: résultats), one
paragraph per axe in the plan's order, prefixed with the axe's title. Who entered an
existing adoption is unknown (null). Existing indicators all belong to an action.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bilans",
        sa.Column(
            "sections",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema="actions",
    )
    op.execute(
        """
        UPDATE actions.bilans b
        SET sections = jsonb_build_object(
            CASE b.type
                WHEN 'point d''étape annuel' THEN 'etat_avancement'
                WHEN 'bilan intermédiaire' THEN 'avancees'
                ELSE 'resultats'
            END,
            (
                SELECT string_agg(
                    coalesce(a.titre || ' : ', '') || s.value, E'\\n\\n'
                    ORDER BY a.position NULLS LAST, s.key
                )
                FROM jsonb_each_text(b.syntheses) AS s
                LEFT JOIN actions.axes AS a ON a.id::text = s.key
            )
        )
        WHERE b.syntheses <> '{}'::jsonb
        """
    )
    op.alter_column("bilans", "sections", server_default=None, schema="actions")
    op.drop_column("bilans", "syntheses", schema="actions")
    op.add_column(
        "bilans",
        sa.Column("adoption_saisie_par", sa.String(length=200), nullable=True),
        schema="actions",
    )
    op.add_column(
        "bilans",
        sa.Column("adoption_saisie_le", sa.DateTime(timezone=True), nullable=True),
        schema="actions",
    )

    op.alter_column("indicateurs", "action_id", nullable=True, schema="actions")
    op.add_column("indicateurs", sa.Column("axe_id", sa.Uuid(), nullable=True), schema="actions")
    op.create_foreign_key(
        op.f("fk_indicateurs_axe_id_axes"),
        "indicateurs",
        "axes",
        ["axe_id"],
        ["id"],
        source_schema="actions",
        referent_schema="actions",
    )
    op.create_index(
        op.f("ix_indicateurs_axe_id"), "indicateurs", ["axe_id"], unique=False, schema="actions"
    )
    op.create_check_constraint(
        op.f("ck_indicateurs_rattachement"),
        "indicateurs",
        "action_id IS NULL OR axe_id IS NULL",
        schema="actions",
    )


def downgrade() -> None:
    # Indicators of an axe or of the convention have no place in the older schema.
    op.execute("DELETE FROM actions.indicateurs WHERE action_id IS NULL")
    op.drop_constraint(
        op.f("ck_indicateurs_rattachement"), "indicateurs", type_="check", schema="actions"
    )
    op.drop_index(op.f("ix_indicateurs_axe_id"), table_name="indicateurs", schema="actions")
    op.drop_constraint(
        op.f("fk_indicateurs_axe_id_axes"), "indicateurs", type_="foreignkey", schema="actions"
    )
    op.drop_column("indicateurs", "axe_id", schema="actions")
    op.alter_column("indicateurs", "action_id", nullable=False, schema="actions")

    op.drop_column("bilans", "adoption_saisie_le", schema="actions")
    op.drop_column("bilans", "adoption_saisie_par", schema="actions")
    # The older shape keys syntheses by axe: the sections have no place there (lost).
    op.add_column(
        "bilans",
        sa.Column(
            "syntheses",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema="actions",
    )
    op.alter_column("bilans", "syntheses", server_default=None, schema="actions")
    op.drop_column("bilans", "sections", schema="actions")
