"""Idempotency-Key moves to the kernel (kernel.idempotency): a key is claimed before its
request runs (status and body null until then), and expired keys are purged by date

Existing keys keep their stored answers.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("idempotency_keys", "status_code", nullable=True, schema="actions")
    op.alter_column("idempotency_keys", "body", nullable=True, schema="actions")
    op.alter_column(
        "idempotency_keys",
        "headers",
        server_default=sa.text("'{}'::jsonb"),
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        schema="actions",
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], schema="actions"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", schema="actions")
    op.execute("DELETE FROM actions.idempotency_keys WHERE status_code IS NULL")
    op.alter_column("idempotency_keys", "headers", server_default=None, schema="actions")
    op.alter_column("idempotency_keys", "body", nullable=False, schema="actions")
    op.alter_column("idempotency_keys", "status_code", nullable=False, schema="actions")
