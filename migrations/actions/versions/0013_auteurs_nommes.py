"""authors named beside their ids (issue 23): suivis, their events, indicator values,
bilans' adoption, CDSF agreements

Each stored author id gets the author's display name at write time (`Principal.name`).
Existing rows take the name the history recorded for that author
(`kernel.migrations.add_author_name`), NULL when it recorded none.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import add_author_name

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, author column, column holding the history's objet_id, when it was written)
_AUTHORS = (
    ("suivis", "auteur", "id", "updated_at"),
    ("suivi_evenements", "auteur", "suivi_id", "at"),
    ("valeurs_indicateurs", "auteur", "id", "updated_at"),
    ("bilans", "adoption_saisie_par", "id", "adoption_saisie_le"),
    ("accords_cdsf", "par", "bilan_id", "at"),
)


def upgrade() -> None:
    for table, author, objet, at in _AUTHORS:
        add_author_name("actions", table, author, objet=objet, at=at)


def downgrade() -> None:
    for table, author, _, _ in _AUTHORS:
        op.drop_column(table, f"{author}_nom", schema="actions")
