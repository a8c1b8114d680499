"""expiry notices: each grant's J-30 and J-7 notice recorded once per end date

The gateway's job `gateway.grant-expiry-notices` records `habilitation.expire_bientot`
events; this table's key (grant, end date, step) makes each one once. Existing grants
get their notices from the next run (none was ever sent).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "avis_expiration",
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("etape", sa.String(5), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["gateway.grants.id"],
            name=op.f("fk_avis_expiration_grant_id_grants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "grant_id", "valid_until", "etape", name=op.f("pk_avis_expiration")
        ),
        schema="gateway",
    )


def downgrade() -> None:
    op.drop_table("avis_expiration", schema="gateway")
