"""what the gateway keeps about people: the access journal, erasure of e-mails

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal_acces",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("client", sa.String(length=255), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_acces")),
        schema="gateway",
    )
    op.create_index(op.f("ix_journal_acces_at"), "journal_acces", ["at"], schema="gateway")
    op.create_index(
        op.f("ix_journal_acces_principal_id_at"),
        "journal_acces",
        ["principal_id", "at"],
        schema="gateway",
    )
    op.add_column(
        "persons",
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        schema="gateway",
    )
    op.alter_column(
        "invitations", "email", existing_type=sa.String(length=320), nullable=True, schema="gateway"
    )
    op.create_index(op.f("ix_outbox_created_at"), "outbox", ["created_at"], schema="gateway")


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_created_at"), table_name="outbox", schema="gateway")
    op.execute("UPDATE gateway.invitations SET email = '' WHERE email IS NULL")
    op.alter_column(
        "invitations",
        "email",
        existing_type=sa.String(length=320),
        nullable=False,
        schema="gateway",
    )
    op.drop_column("persons", "erased_at", schema="gateway")
    op.drop_index(
        op.f("ix_journal_acces_principal_id_at"), table_name="journal_acces", schema="gateway"
    )
    op.drop_index(op.f("ix_journal_acces_at"), table_name="journal_acces", schema="gateway")
    op.drop_table("journal_acces", schema="gateway")
