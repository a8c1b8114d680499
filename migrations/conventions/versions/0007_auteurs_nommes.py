"""authors named beside their ids (issue 23): avenants and mises en demeure

Each stored author id gets the author's display name at write time (`Principal.name`).
Existing rows take the name the history recorded for that author
(`kernel.migrations.add_author_name`: an avenant is recorded on its convention, a mise
en demeure on itself), NULL when it recorded none.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import add_author_name

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_author_name("conventions", "avenant", "auteur", objet="convention_id", at="cree_le")
    add_author_name("conventions", "mise_en_demeure", "auteur", objet="id", at="cree_le")


def downgrade() -> None:
    op.drop_column("avenant", "auteur_nom", schema="conventions")
    op.drop_column("mise_en_demeure", "auteur_nom", schema="conventions")
