"""the other apps' replicas learn the names of each convention's organisations

The feed now tells `noms` (the Caf's and each signataire's name, by id): every
convention gets a new change number, so that each replica's next catch-up reads it
again and fills the names of the rows it already holds.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE conventions.convention SET seq = nextval('conventions.convention_seq')")


def downgrade() -> None:
    pass  # new change numbers are harmless: nothing to undo
