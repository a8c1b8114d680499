"""the delivery log names its recipients

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

S = "notifications"


def upgrade() -> None:
    op.add_column("envois", sa.Column("personne_nom", sa.String(300)), schema=S)
    # Messages not sent yet still hold the name they are rendered with; sent ones do
    # not (their rendering values are erased once sent), and stay unnamed.
    op.execute(
        "UPDATE notifications.envois SET personne_nom = left(contexte->>'nom', 300) "
        "WHERE personne_id IS NOT NULL AND contexte ? 'nom'"
    )


def downgrade() -> None:
    op.drop_column("envois", "personne_nom", schema=S)
