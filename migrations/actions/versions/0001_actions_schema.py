"""actions schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 11:38:38.692705
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The schema-wide change sequence behind delta sync (autogenerate does not emit it).
    op.execute(sa.schema.CreateSequence(sa.Sequence("change_seq", schema="actions")))
    op.create_table(
        "axes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("titre", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('actions.change_seq')"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_axes")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_axes_convention_id"), "axes", ["convention_id"], unique=False, schema="actions"
    )
    op.create_index(op.f("ix_axes_seq"), "axes", ["seq"], unique=False, schema="actions")
    op.create_table(
        "bilans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("periode_debut", sa.Date(), nullable=False),
        sa.Column("periode_fin", sa.Date(), nullable=False),
        sa.Column("etat", sa.String(length=20), nullable=False),
        sa.Column("syntheses", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("date_adoption", sa.Date(), nullable=True),
        sa.Column("instantane", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("petite_enfance_transmissible", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('actions.change_seq')"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bilans")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_bilans_convention_id"), "bilans", ["convention_id"], unique=False, schema="actions"
    )
    op.create_index(op.f("ix_bilans_seq"), "bilans", ["seq"], unique=False, schema="actions")
    op.create_table(
        "campagnes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("periode", sa.String(length=7), nullable=False),
        sa.Column("date_limite", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campagnes")),
        sa.UniqueConstraint(
            "convention_id", "periode", name=op.f("uq_campagnes_convention_id_periode")
        ),
        schema="actions",
    )
    op.create_table(
        "convention_ref",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("caf_id", sa.Uuid(), nullable=False),
        sa.Column("titre", sa.String(length=300), nullable=False),
        sa.Column("echelon", sa.String(length=40), nullable=False),
        sa.Column("statut", sa.String(length=40), nullable=False),
        sa.Column("date_debut", sa.Date(), nullable=False),
        sa.Column("date_fin", sa.Date(), nullable=False),
        sa.Column("date_effet_resiliation", sa.Date(), nullable=True),
        sa.Column("signataire_ids", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_convention_ref")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_convention_ref_caf_id"),
        "convention_ref",
        ["caf_id"],
        unique=False,
        schema="actions",
    )
    op.create_index(
        op.f("ix_convention_ref_seq"), "convention_ref", ["seq"], unique=False, schema="actions"
    )
    op.create_index(
        op.f("ix_convention_ref_signataire_ids"),
        "convention_ref",
        ["signataire_ids"],
        unique=False,
        schema="actions",
        postgresql_using="gin",
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
        schema="actions",
    )
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('actions.change_seq')"),
            nullable=False,
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_tombstones_convention_id"),
        "tombstones",
        ["convention_id"],
        unique=False,
        schema="actions",
    )
    op.create_index(
        op.f("ix_tombstones_seq"), "tombstones", ["seq"], unique=False, schema="actions"
    )
    op.create_table(
        "accords_cdsf",
        sa.Column("bilan_id", sa.Uuid(), nullable=False),
        sa.Column("collectivite_id", sa.Uuid(), nullable=False),
        sa.Column("par", sa.String(length=200), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["bilan_id"],
            ["actions.bilans.id"],
            name=op.f("fk_accords_cdsf_bilan_id_bilans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bilan_id", "collectivite_id", name=op.f("pk_accords_cdsf")),
        schema="actions",
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("axe_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("titre", sa.String(length=300), nullable=False),
        sa.Column("thematique", sa.String(length=80), nullable=True),
        sa.Column("date_debut", sa.Date(), nullable=True),
        sa.Column("date_echeance", sa.Date(), nullable=True),
        sa.Column("priorite", sa.String(length=20), nullable=True),
        sa.Column("statut", sa.String(length=20), nullable=False),
        sa.Column("porteur_ids", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("referent", sa.String(length=200), nullable=True),
        sa.Column("diagnostic_initial", sa.Text(), nullable=True),
        sa.Column("public_cible", sa.Text(), nullable=True),
        sa.Column("objectifs_operationnels", sa.Text(), nullable=True),
        sa.Column("modalites_mise_en_oeuvre", sa.Text(), nullable=True),
        sa.Column("echeances_realisation", sa.Text(), nullable=True),
        sa.Column("services_mobilises", sa.Text(), nullable=True),
        sa.Column("resultats_attendus", sa.Text(), nullable=True),
        sa.Column("partenaires_sollicites", sa.Text(), nullable=True),
        sa.Column("indicateurs_evaluation", sa.Text(), nullable=True),
        sa.Column("specificites_ao", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('actions.change_seq')"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["axe_id"], ["actions.axes.id"], name=op.f("fk_actions_axe_id_axes")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["actions.actions.id"], name=op.f("fk_actions_parent_id_actions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_actions_axe_id_position"),
        "actions",
        ["axe_id", "position"],
        unique=False,
        schema="actions",
    )
    op.create_index(
        op.f("ix_actions_convention_id"),
        "actions",
        ["convention_id"],
        unique=False,
        schema="actions",
    )
    op.create_index(
        op.f("ix_actions_parent_id"), "actions", ["parent_id"], unique=False, schema="actions"
    )
    op.create_index(
        op.f("ix_actions_porteur_ids"),
        "actions",
        ["porteur_ids"],
        unique=False,
        schema="actions",
        postgresql_using="gin",
    )
    op.create_index(op.f("ix_actions_seq"), "actions", ["seq"], unique=False, schema="actions")
    op.create_table(
        "indicateurs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("libelle", sa.String(length=300), nullable=False),
        sa.Column("nature", sa.String(length=40), nullable=False),
        sa.Column("unite", sa.String(length=20), nullable=False),
        sa.Column("valeur_reference", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("date_reference", sa.Date(), nullable=True),
        sa.Column("cibles", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('actions.change_seq')"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.actions.id"],
            name=op.f("fk_indicateurs_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicateurs")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_indicateurs_action_id"),
        "indicateurs",
        ["action_id"],
        unique=False,
        schema="actions",
    )
    op.create_index(
        op.f("ix_indicateurs_convention_id"),
        "indicateurs",
        ["convention_id"],
        unique=False,
        schema="actions",
    )
    op.create_index(
        op.f("ix_indicateurs_seq"), "indicateurs", ["seq"], unique=False, schema="actions"
    )
    op.create_table(
        "suivis",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action_id", sa.Uuid(), nullable=False),
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("periode", sa.String(length=7), nullable=False),
        sa.Column("etat", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("statut_action", sa.String(length=20), nullable=False),
        sa.Column("avancement", sa.Integer(), nullable=True),
        sa.Column("realisations", sa.Text(), nullable=True),
        sa.Column("difficultes", sa.Text(), nullable=True),
        sa.Column("alerte", sa.Boolean(), nullable=False),
        sa.Column("alerte_message", sa.Text(), nullable=True),
        sa.Column("valeurs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("commentaire_validation", sa.Text(), nullable=True),
        sa.Column("auteur", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('actions.change_seq')"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("avancement BETWEEN 0 AND 100", name=op.f("ck_suivis_avancement")),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.actions.id"],
            name=op.f("fk_suivis_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suivis")),
        sa.UniqueConstraint("action_id", "periode", name=op.f("uq_suivis_action_id_periode")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_suivis_convention_id_periode"),
        "suivis",
        ["convention_id", "periode"],
        unique=False,
        schema="actions",
    )
    op.create_index(op.f("ix_suivis_seq"), "suivis", ["seq"], unique=False, schema="actions")
    op.create_table(
        "suivi_evenements",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("suivi_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("evenement", sa.String(length=30), nullable=False),
        sa.Column("etat_avant", sa.String(length=20), nullable=True),
        sa.Column("etat_apres", sa.String(length=20), nullable=False),
        sa.Column("commentaire", sa.Text(), nullable=True),
        sa.Column("auteur", sa.String(length=200), nullable=False),
        sa.Column("contenu", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["suivi_id"],
            ["actions.suivis.id"],
            name=op.f("fk_suivi_evenements_suivi_id_suivis"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suivi_evenements")),
        schema="actions",
    )
    op.create_index(
        op.f("ix_suivi_evenements_suivi_id"),
        "suivi_evenements",
        ["suivi_id"],
        unique=False,
        schema="actions",
    )
    op.create_table(
        "valeurs_indicateurs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("indicateur_id", sa.Uuid(), nullable=False),
        sa.Column("periode", sa.String(length=8), nullable=False),
        sa.Column("valeur", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("commentaire", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("auteur", sa.String(length=200), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["indicateur_id"],
            ["actions.indicateurs.id"],
            name=op.f("fk_valeurs_indicateurs_indicateur_id_indicateurs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_valeurs_indicateurs")),
        sa.UniqueConstraint(
            "indicateur_id", "periode", name=op.f("uq_valeurs_indicateurs_indicateur_id_periode")
        ),
        schema="actions",
    )


def downgrade() -> None:
    op.drop_table("valeurs_indicateurs", schema="actions")
    op.drop_index(
        op.f("ix_suivi_evenements_suivi_id"), table_name="suivi_evenements", schema="actions"
    )
    op.drop_table("suivi_evenements", schema="actions")
    op.drop_index(op.f("ix_suivis_seq"), table_name="suivis", schema="actions")
    op.drop_index(op.f("ix_suivis_convention_id_periode"), table_name="suivis", schema="actions")
    op.drop_table("suivis", schema="actions")
    op.drop_index(op.f("ix_indicateurs_seq"), table_name="indicateurs", schema="actions")
    op.drop_index(op.f("ix_indicateurs_convention_id"), table_name="indicateurs", schema="actions")
    op.drop_index(op.f("ix_indicateurs_action_id"), table_name="indicateurs", schema="actions")
    op.drop_table("indicateurs", schema="actions")
    op.drop_index(op.f("ix_actions_seq"), table_name="actions", schema="actions")
    op.drop_index(
        op.f("ix_actions_porteur_ids"),
        table_name="actions",
        schema="actions",
        postgresql_using="gin",
    )
    op.drop_index(op.f("ix_actions_parent_id"), table_name="actions", schema="actions")
    op.drop_index(op.f("ix_actions_convention_id"), table_name="actions", schema="actions")
    op.drop_index(op.f("ix_actions_axe_id_position"), table_name="actions", schema="actions")
    op.drop_table("actions", schema="actions")
    op.drop_table("accords_cdsf", schema="actions")
    op.drop_index(op.f("ix_tombstones_seq"), table_name="tombstones", schema="actions")
    op.drop_index(op.f("ix_tombstones_convention_id"), table_name="tombstones", schema="actions")
    op.drop_table("tombstones", schema="actions")
    op.drop_table("idempotency_keys", schema="actions")
    op.drop_index(
        op.f("ix_convention_ref_signataire_ids"),
        table_name="convention_ref",
        schema="actions",
        postgresql_using="gin",
    )
    op.drop_index(op.f("ix_convention_ref_seq"), table_name="convention_ref", schema="actions")
    op.drop_index(op.f("ix_convention_ref_caf_id"), table_name="convention_ref", schema="actions")
    op.drop_table("convention_ref", schema="actions")
    op.drop_table("campagnes", schema="actions")
    op.drop_index(op.f("ix_bilans_seq"), table_name="bilans", schema="actions")
    op.drop_index(op.f("ix_bilans_convention_id"), table_name="bilans", schema="actions")
    op.drop_table("bilans", schema="actions")
    op.drop_index(op.f("ix_axes_seq"), table_name="axes", schema="actions")
    op.drop_index(op.f("ix_axes_convention_id"), table_name="axes", schema="actions")
    op.drop_table("axes", schema="actions")
    op.execute(sa.schema.DropSequence(sa.Sequence("change_seq", schema="actions")))
