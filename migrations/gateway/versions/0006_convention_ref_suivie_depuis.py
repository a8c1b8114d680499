"""the replica knows since when the product follows a CTG recorded after the fact

`suivie_depuis` (kernel.convention_ref.ConventionRef): for a CTG signed before the
product (`ctg_existante`), the day it was recorded (the feed's contract, kept whole
in every replica). Existing rows: NULL until the conventions service sends them again (its
migration 0005 gives those conventions a new change number).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "convention_ref", sa.Column("suivie_depuis", sa.Date(), nullable=True), schema="gateway"
    )


def downgrade() -> None:
    op.drop_column("convention_ref", "suivie_depuis", schema="gateway")
