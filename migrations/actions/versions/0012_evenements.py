"""the actions service's domain events (kernel.outbox): a suivi's workflow steps

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import create_outbox

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox("actions")


def downgrade() -> None:
    op.drop_table("evenements", schema="actions")
