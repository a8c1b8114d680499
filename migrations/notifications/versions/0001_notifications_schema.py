"""the notifications service's schema: feeds' cursors, events acted on, in-app
notifications (delta sync numbers in commit order), e-mails and their delivery log,
unsubscriptions

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kernel.migrations import create_idempotency_keys

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notifications"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {S}")
    op.execute(f"CREATE SEQUENCE {S}.change_seq")
    # As the actions service's (its migration 0002): a writer takes the lock with its
    # first number and keeps it until it commits, so numbers become visible in order.
    op.execute(
        f"""
        CREATE FUNCTION {S}.next_change_seq() RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('coop.notifications.change_seq'));
            RETURN nextval('{S}.change_seq');
        END
        $$
        """
    )
    create_idempotency_keys(S)
    op.create_table(
        "curseurs",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("apres", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_curseurs")),
        schema=S,
    )
    op.create_table(
        "evenements_traites",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("evenement_id", sa.Uuid(), nullable=False),
        sa.Column(
            "traite_le", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("source", "evenement_id", name=op.f("pk_evenements_traites")),
        schema=S,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("personne_id", sa.Uuid(), nullable=False),
        sa.Column("famille", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("titre", sa.String(length=300), nullable=False),
        sa.Column("texte", sa.Text(), nullable=False),
        sa.Column("lien", sa.String(length=1000), nullable=True),
        sa.Column("convention_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("evenement_id", sa.Uuid(), nullable=False),
        sa.Column("cree_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lue_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("notifications.next_change_seq()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "personne_id",
            "source",
            "evenement_id",
            name=op.f("uq_notifications_personne_id_source_evenement_id"),
        ),
        schema=S,
    )
    op.create_index(
        op.f("ix_notifications_personne_id_cree_le_id"),
        "notifications",
        ["personne_id", "cree_le", "id"],
        schema=S,
    )
    op.create_index(
        op.f("ix_notifications_personne_id_seq"), "notifications", ["personne_id", "seq"], schema=S
    )
    op.create_index(
        "ix_notifications_non_lues",
        "notifications",
        ["personne_id"],
        schema=S,
        postgresql_where=sa.text("lue_le IS NULL"),
    )
    op.create_table(
        "envois",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cree_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("personne_id", sa.Uuid(), nullable=True),
        sa.Column("adresse", sa.String(length=320), nullable=False),
        sa.Column("famille", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("evenement_id", sa.Uuid(), nullable=False),
        sa.Column("sujet", sa.String(length=300), nullable=False),
        sa.Column("statut", sa.String(length=20), nullable=False),
        sa.Column("tentatives", sa.Integer(), nullable=False),
        sa.Column("prochain_essai", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raison", sa.Text(), nullable=True),
        sa.Column("envoye_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caf_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("modele", sa.String(length=60), nullable=False),
        sa.Column("contexte", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envois")),
        sa.UniqueConstraint(
            "source", "evenement_id", "adresse", name=op.f("uq_envois_source_evenement_id_adresse")
        ),
        schema=S,
    )
    op.create_index(op.f("ix_envois_cree_le"), "envois", ["cree_le"], schema=S)
    op.create_index(
        "ix_envois_a_envoyer",
        "envois",
        ["prochain_essai"],
        schema=S,
        postgresql_where=sa.text("statut = 'en attente'"),
    )
    op.create_index(
        op.f("ix_envois_caf_ids"), "envois", ["caf_ids"], schema=S, postgresql_using="gin"
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


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {S} CASCADE")
