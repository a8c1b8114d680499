"""Idempotency-Key on every POST (kernel.idempotency): the gateway service's keys

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import create_idempotency_keys

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_keys("gateway")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="gateway")
