"""The conventions service's history (issue 24): names, append-only, migrated rows."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from kernel.migrations import upgrade
from tests.conventions.helpers import create, h, history, sign_all
from tests.conventions.test_migrations import INSERT_CONVENTION
from tests.support.conventions import make_convention
from tests.support.fresh_database import fresh_database
from tests.support.fresh_database import run_sql as _run
from tests.support.history import assert_append_only
from tests.support.personas import CAF_A, CAF_A_AGENT, COLLECTIVITE_X, X_PARTNER_CLIENT

__all__ = ["fresh_database"]


async def test_the_history_cannot_be_rewritten(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Issue 24: no history row can be altered by the application's database role."""
    await make_convention(client)
    await assert_append_only(database_url, "conventions.historique")


async def test_an_organisation_history_names_who_corrected_the_registry(
    client: httpx.AsyncClient,
) -> None:
    url = f"/api/v1/organisations/{COLLECTIVITE_X}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    resp = await client.patch(url, json={"population": 12500}, headers=h(**{"if-match": etag}))
    assert resp.status_code == 200, resp.text
    page = (await client.get(f"{url}/historique", headers=h(X_PARTNER_CLIENT))).json()
    (entry,) = page["items"]
    assert (entry["evenement"], entry["auteur_nom"]) == ("modification", "Caf A Agent")
    assert entry["changements"][0]["champ"] == "population"
    assert entry["changements"][0]["avant"] == 12000
    assert entry["changements"][0]["apres"] == 12500
    assert entry["convention_id"] is None
    missing = await client.get(f"/api/v1/organisations/{uuid.uuid4()}/historique", headers=h())
    assert missing.status_code == 404


async def test_a_history_page_follows_the_next_one(client: httpx.AsyncClient) -> None:
    """Keyset pages, newest first, none missed nor repeated."""
    cid = (await create(client))["id"]
    await sign_all(client, cid, [CAF_A, COLLECTIVITE_X], "2024-12-20")
    everything = await history(client, cid)
    assert len(everything) == 3
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(
                f"/internal/v1/conventions/{cid}/historique", params=params, headers=h()
            )
        ).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
    forged = await client.get(
        f"/internal/v1/conventions/{cid}/historique", params={"cursor": "bm9u"}, headers=h()
    )
    assert forged.status_code == 400


def test_the_former_history_moves_over_named_as_the_gateway_knows_its_authors(
    fresh_database: str,
) -> None:
    """Rows written before issue 24 named their author by id only: the migration keeps
    them (ids, times, reasons, details) and names the authors the gateway knows, a
    person by the name they last logged in with, a machine client by its registration."""
    url = fresh_database
    upgrade("gateway", url)
    upgrade("conventions", url, "0003")
    caf, cid = uuid.uuid4(), uuid.uuid4()
    person, client, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    statements: list[tuple[str, tuple[object, ...]]] = [
        (
            "INSERT INTO conventions.organisation (id, type, nom, version)"
            " VALUES ($1, 'Caf', 'Caf', 1)",
            (caf,),
        ),
        (INSERT_CONVENTION, (cid, caf, "dénonciation", 1)),
        (
            "INSERT INTO gateway.persons (id, issuer, subject, name) VALUES ($1, 'idp', 's', $2)",
            (person, "Agnès Martin"),
        ),
        (
            "INSERT INTO gateway.clients (id, client_id, nom, organisation_id,"
            " organisation_kind, role) VALUES ($1, 'si-x', 'SI de X', $2, 'caf', 'agent')",
            (client, caf),
        ),
    ]
    for i, (who, transition) in enumerate(
        ((person, "création"), (client, "signature"), (stranger, "résiliation")), start=10
    ):
        statements.append(
            (
                "INSERT INTO conventions.evenement (id, convention_id, transition, auteur,"
                " motif, details) VALUES ($1, $2, $3, $4, 'pourquoi', '{\"n\": 1}')",
                (i, cid, transition, str(who)),
            )
        )
    for sql, args in statements:
        asyncio.run(_run(url, sql, *args))
    upgrade("conventions", url)
    rows = asyncio.run(
        _run(
            url,
            "SELECT id, objet_type, objet_id, evenement, auteur_id, auteur_nom, client, motif,"
            " details FROM conventions.historique ORDER BY id",
        )
    )
    assert [(r["id"], r["evenement"], r["auteur_nom"]) for r in rows] == [
        (10, "création", "Agnès Martin"),
        (11, "signature", "SI de X"),
        (12, "résiliation", None),
    ]
    assert all(r["objet_type"] == "convention" and r["objet_id"] == cid for r in rows)
    assert all(r["client"] is None and r["motif"] == "pourquoi" for r in rows)
    assert rows[2]["auteur_id"] == str(stranger)
    tables = asyncio.run(
        _run(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'conventions'")
    )
    assert "evenement" not in {t["tablename"] for t in tables}
    asyncio.run(assert_append_only(url, "conventions.historique"))
    # New rows number on after the moved ones.
    asyncio.run(
        _run(
            url,
            "INSERT INTO conventions.historique (convention_id, objet_type, objet_id,"
            " evenement, auteur_id) VALUES ($1, 'convention', $1, 'test', $2)",
            cid,
            CAF_A_AGENT.subject,
        )
    )
    assert asyncio.run(_run(url, "SELECT max(id) FROM conventions.historique"))[0][0] == 13
