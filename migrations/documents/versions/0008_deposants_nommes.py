"""who deposited named beside their id (issue 23): documents and versions

Each stored `depose_par` gets the depositor's display name at write time
(`Principal.name`). Existing rows take the name the history recorded for that author
(`kernel.migrations.add_author_name`), NULL when it recorded none.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import add_author_name

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_author_name("documents", "document", "depose_par", objet="id", at="depose_le")
    add_author_name("documents", "version", "depose_par", objet="id", at="depose_le")


def downgrade() -> None:
    op.drop_column("document", "depose_par_nom", schema="documents")
    op.drop_column("version", "depose_par_nom", schema="documents")
