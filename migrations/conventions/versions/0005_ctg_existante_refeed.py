"""the other apps' replicas learn since when a recorded CTG is followed

The feed now tells `suivie_depuis` (the day a CTG signed before the product was
recorded): the conventions recorded so (`ctg_existante`) get a new change number, so
that each replica's next catch-up reads them again.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE conventions.convention SET seq = nextval('conventions.convention_seq') "
        "WHERE ctg_existante"
    )


def downgrade() -> None:
    pass  # new change numbers are harmless: nothing to undo
