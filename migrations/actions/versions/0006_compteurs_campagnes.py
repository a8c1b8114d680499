"""campaign counters kept by triggers: the national aggregates stop scanning every suivi

`compteurs_plans`: per convention, its actions due a suivi (not abandoned).
`compteurs_campagnes`: per convention and quarter, the suivis of those actions per
state, and their alerts. Triggers on `suivis` and `actions` move them in the writing
transaction, whoever writes (the service, a bulk load, a cascade); existing rows are
counted here, the tables locked so that no write slips between the count and the
triggers.

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

# The suivis of `src` (columns etat, alerte, and `sens`: +1 counted in, -1 out) added to
# the campaign counters, per convention and quarter. Rows in key order, so that two
# writers moving several rows take their locks in the same order.
_ADD_SUIVIS = """
    INSERT INTO actions.compteurs_campagnes AS c
        (convention_id, periode, brouillon, soumis, valide, a_completer, alertes)
    SELECT {convention}, s.periode,
           sum({sens} * (s.etat = 'brouillon')::int),
           sum({sens} * (s.etat = 'soumis')::int),
           sum({sens} * (s.etat = 'validé')::int),
           sum({sens} * (s.etat = 'à compléter')::int),
           sum({sens} * s.alerte::int)
    FROM {src}
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (convention_id, periode) DO UPDATE SET
        brouillon = c.brouillon + excluded.brouillon,
        soumis = c.soumis + excluded.soumis,
        valide = c.valide + excluded.valide,
        a_completer = c.a_completer + excluded.a_completer,
        alertes = c.alertes + excluded.alertes
"""

# What a suivi's write moves: its former self out, its new self in, if its action counts.
_SUIVI_MOVES = _ADD_SUIVIS.format(
    convention="a.convention_id",
    sens="s.sens",
    src="""(
        SELECT OLD.action_id, OLD.periode, OLD.etat, OLD.alerte, -1 WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT NEW.action_id, NEW.periode, NEW.etat, NEW.alerte, 1 WHERE TG_OP <> 'DELETE'
    ) AS s (action_id, periode, etat, alerte, sens)
    JOIN actions.actions AS a ON a.id = s.action_id AND a.statut <> 'abandonnée'""",
)

# What an action's write moves: its former self out, its new self in, if not abandoned.
_ACTION_MOVES = """(
        SELECT OLD.id, OLD.convention_id, -1
        WHERE TG_OP <> 'INSERT' AND OLD.statut <> 'abandonnée'
        UNION ALL
        SELECT NEW.id, NEW.convention_id, 1
        WHERE TG_OP <> 'DELETE' AND NEW.statut <> 'abandonnée'
    ) AS m (id, convention_id, sens)"""
_ACTION_SUIVIS_MOVES = _ADD_SUIVIS.format(
    convention="m.convention_id",
    sens="m.sens",
    src=f"{_ACTION_MOVES} JOIN actions.suivis AS s ON s.action_id = m.id",
)

COMPTER_SUIVI = f"""
CREATE FUNCTION actions.compter_suivi() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Whether a suivi counts is its action's status (an abandoned action is due
    -- nothing). The action's row locked in share mode: a change of that status waits
    -- for this write, or this write for it, and the later one sees the other's outcome.
    -- (The service takes that lock first, before the change sequence's.)
    PERFORM 1 FROM actions.actions
    WHERE id IN (OLD.action_id, NEW.action_id) ORDER BY id FOR SHARE;
    {_SUIVI_MOVES};
    RETURN NULL;
END
$$
"""

COMPTER_ACTION = f"""
CREATE FUNCTION actions.compter_action() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- An action entering or leaving the count (created, deleted, abandoned or taken
    -- up again) takes its suivis of every quarter with it. Deletion runs before the
    -- row goes: its suivis, deleted in cascade, are still there to be counted out.
    INSERT INTO actions.compteurs_plans AS c (convention_id, actions)
    SELECT m.convention_id, sum(m.sens) FROM {_ACTION_MOVES}
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (convention_id) DO UPDATE SET actions = c.actions + excluded.actions;
    IF TG_OP <> 'INSERT' THEN
        {_ACTION_SUIVIS_MOVES};
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$
"""  # noqa: S608 (built from this file's constants)

TRIGGERS = (
    """CREATE TRIGGER compteurs AFTER INSERT OR DELETE ON actions.suivis
    FOR EACH ROW EXECUTE FUNCTION actions.compter_suivi()""",
    """CREATE TRIGGER compteurs_changement AFTER UPDATE ON actions.suivis
    FOR EACH ROW WHEN (
        OLD.etat IS DISTINCT FROM NEW.etat
        OR OLD.alerte IS DISTINCT FROM NEW.alerte
        OR OLD.periode IS DISTINCT FROM NEW.periode
        OR OLD.action_id IS DISTINCT FROM NEW.action_id
    ) EXECUTE FUNCTION actions.compter_suivi()""",
    """CREATE TRIGGER compteurs AFTER INSERT ON actions.actions
    FOR EACH ROW EXECUTE FUNCTION actions.compter_action()""",
    """CREATE TRIGGER compteurs_changement AFTER UPDATE ON actions.actions
    FOR EACH ROW WHEN (
        (OLD.statut = 'abandonnée') IS DISTINCT FROM (NEW.statut = 'abandonnée')
        OR OLD.convention_id IS DISTINCT FROM NEW.convention_id
    ) EXECUTE FUNCTION actions.compter_action()""",
    """CREATE TRIGGER compteurs_suppression BEFORE DELETE ON actions.actions
    FOR EACH ROW EXECUTE FUNCTION actions.compter_action()""",
)

FILL = (
    """INSERT INTO actions.compteurs_plans (convention_id, actions)
    SELECT convention_id, count(*) FROM actions.actions
    WHERE statut <> 'abandonnée' GROUP BY convention_id""",
    _ADD_SUIVIS.format(
        convention="a.convention_id",
        sens="1",
        src="actions.suivis AS s JOIN actions.actions AS a "
        "ON a.id = s.action_id AND a.statut <> 'abandonnée'",
    ),
)


def upgrade() -> None:
    op.create_table(
        "compteurs_plans",
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("convention_id", name=op.f("pk_compteurs_plans")),
        schema="actions",
    )
    op.create_table(
        "compteurs_campagnes",
        sa.Column("convention_id", sa.Uuid(), nullable=False),
        sa.Column("periode", sa.String(length=7), nullable=False),
        sa.Column("brouillon", sa.Integer(), nullable=False),
        sa.Column("soumis", sa.Integer(), nullable=False),
        sa.Column("valide", sa.Integer(), nullable=False),
        sa.Column("a_completer", sa.Integer(), nullable=False),
        sa.Column("alertes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("convention_id", "periode", name=op.f("pk_compteurs_campagnes")),
        schema="actions",
    )
    # Writers wait (readers do not) from here to the commit: the count below and the
    # triggers then see the same rows.
    op.execute("LOCK TABLE actions.actions, actions.suivis IN SHARE ROW EXCLUSIVE MODE")
    for statement in (COMPTER_SUIVI, COMPTER_ACTION, *TRIGGERS, *FILL):
        op.execute(statement)


def downgrade() -> None:
    for table, trigger in (
        ("suivis", "compteurs"),
        ("suivis", "compteurs_changement"),
        ("actions", "compteurs"),
        ("actions", "compteurs_changement"),
        ("actions", "compteurs_suppression"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON actions.{table}")
    op.execute("DROP FUNCTION actions.compter_action()")
    op.execute("DROP FUNCTION actions.compter_suivi()")
    op.drop_table("compteurs_campagnes", schema="actions")
    op.drop_table("compteurs_plans", schema="actions")
