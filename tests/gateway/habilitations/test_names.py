"""Grant histories name who acted (issue 24), including rows written before names were."""

from __future__ import annotations

import asyncio
import uuid

from kernel.migrations import upgrade
from tests.support.fresh_database import fresh_database, sql
from tests.support.history import assert_append_only

__all__ = ["fresh_database"]


def test_older_grant_events_are_named_after_the_persons_the_gateway_knows(
    fresh_database: str,
) -> None:
    """Before issue 24 an API actor was labelled by their id: the migration puts the
    name the gateway recorded for them; the CLI's and the jobs' labels stay."""
    url = fresh_database
    upgrade("gateway", url, "0004")
    named, nameless, holder, grant = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for pid, name in ((named, "Agnès Martin"), (nameless, None), (holder, "Léa")):
        sql(
            url,
            "INSERT INTO gateway.persons (id, issuer, subject, name) VALUES ($1, 'idp', $2, $3)",
            pid,
            str(pid),
            name,
        )
    sql(
        url,
        "INSERT INTO gateway.grants (id, person_id, organisation_id, organisation_kind, role,"
        " valid_from, valid_until, status, version) VALUES ($1, $2, $3, 'caf', 'lecteur',"
        " now(), now() + interval '1 year', 'active', 1)",
        grant,
        holder,
        uuid.uuid4(),
    )
    for actor, label in ((None, "cli"), (named, str(named)), (nameless, str(nameless))):
        sql(
            url,
            "INSERT INTO gateway.grant_events (grant_id, event, actor_id, actor_label, role,"
            " valid_until) VALUES ($1, 'renouvelée', $2, $3, 'lecteur', now())",
            grant,
            actor,
            label,
        )
    upgrade("gateway", url)
    rows = sql(url, "SELECT actor_label, actor_client FROM gateway.grant_events ORDER BY id")
    assert [(r["actor_label"], r["actor_client"]) for r in rows] == [
        ("cli", None),
        ("Agnès Martin", None),
        (str(nameless), None),  # nothing better is known
    ]
    asyncio.run(assert_append_only(url, "gateway.grant_events"))
