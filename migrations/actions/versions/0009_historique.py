"""The plan's history (kernel.history): who changed an axe, an action, a sous-action, an
indicator or one of its values, when, through which client, and what, field by field;
append-only

Nothing to move over: the plan's changes were not recorded before (a suivi's steps
keep their own record, suivi_evenements).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

from kernel.migrations import create_history

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history("actions")


def downgrade() -> None:
    op.drop_table("historique", schema="actions")
    op.execute("DROP FUNCTION actions.refuse_rewriting_history()")
