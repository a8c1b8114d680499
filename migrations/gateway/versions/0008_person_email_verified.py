"""a person's e-mail says whether the identity provider verified it

Services send mail only to verified addresses (the notifications read persons through
`/internal/v1/conventions/{id}/personnes`, which gives `email` only when verified).
Existing rows: not verified until the person logs in again (the token's
`email_verified` claim is then recorded).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "persons",
        sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="gateway",
    )


def downgrade() -> None:
    op.drop_column("persons", "email_verified", schema="gateway")
