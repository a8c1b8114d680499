"""Large exports run as jobs: a Caf's campaign asked for, written by the job, downloaded
by its requester alone for 24 hours, then deleted.

Issue 26: "per Caf campaign (every convention of the Caf for one quarter)"; "large ones
(a Caf or the nation) run as a job on the suite's job queue with a status, and their
file is downloadable for 24 hours by the person who asked (same scope check at
download), then deleted"; "A real spreadsheet opens them". The job is the function
`coop worker` runs (`actions.exports`, services/actions/jobs.py), called here."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.database import create_sessionmaker
from kernel.errors import NotFound
from kernel.principal import Principal, Role
from kernel.tabular import Row, Sheet
from services.actions import service_export_jobs as jobs
from services.actions.app import create_app
from services.actions.export_campagne import CAMPAGNE_CAF, COLONNES_CAMPAGNE
from services.actions.export_genres import GenreExport
from services.actions.jobs import periodic_jobs
from services.actions.models import Export, ExportMorceau
from services.actions.repository_export_jobs import claim
from services.actions.settings import ActionsSettings
from tests.actions.conftest import Api, conventions_unreachable
from tests.actions.test_exports import HEADER
from tests.support.apps import running
from tests.support.conventions import conventions_app, make_convention, seed_organisations
from tests.support.jobs import finished_ticks, run_workers
from tests.support.office import CALC_TO_CSV, convert
from tests.support.personas import (
    CAF,
    CAF_A,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    NATIONAL,
    X_CONTRIBUTEUR,
    person,
)

TODAY = dt.date(2026, 4, 10)
T0 = dt.datetime(2026, 4, 10, 9, 0, tzinfo=dt.UTC)
FORMULA = "=SOMME(A1:A9)"
EXPORTS = "/api/v1/exports"


def campagne(fmt: str = "ods", **fields: Any) -> dict[str, Any]:
    return {"type": "campagne-caf", "format": fmt, "periode": "2026-T1", **fields}


class Clocked(Api):
    """The API, its app's settings (the clock to move) and the job `coop worker` runs."""

    def __init__(
        self, client: httpx.AsyncClient, settings: ActionsSettings, engine: AsyncEngine
    ) -> None:
        super().__init__(client)
        self.settings = settings
        self.sessionmaker = create_sessionmaker(engine)

    def advance(self, **delta: float) -> None:
        assert self.settings.clock is not None
        self.settings.clock = self.settings.clock + dt.timedelta(**delta)

    async def run_jobs(self) -> int:
        return await jobs.run_pending(self.sessionmaker, self.settings)

    async def ask(self, who: Principal, **fields: Any) -> dict[str, Any]:
        r = await self.post(who, EXPORTS, json=campagne(**fields))
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"{EXPORTS}/{r.json()['id']}"
        assert r.headers["retry-after"] == "2"
        return dict(r.json())

    async def count(self, model: type[Export] | type[ExportMorceau]) -> int:
        async with self.sessionmaker() as session:
            return int(
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
            )


@asynccontextmanager
async def clocked(
    database_url: str,
    engine: AsyncEngine,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Clocked]:
    settings = ActionsSettings(database_url=database_url, conventions_sync_seconds=3600, clock=T0)
    app = create_app(
        settings,
        conventions_transport=transport or httpx.MockTransport(conventions_unreachable),
        today=lambda: TODAY,
    )
    async with running(app) as client:
        yield Clocked(client, settings, engine)


@dataclass(frozen=True)
class Seen:
    action: dict[str, Any]  # the followed action, as the API reads it
    suivi: dict[str, Any]  # its 2026-T1 suivi
    conventions: dict[str, str]  # convention id -> title
    status: dict[str, dict[str, Any]]  # format -> the export once ready
    files: dict[str, bytes]
    headers: dict[str, httpx.Headers]
    too_many: httpx.Response  # a fourth export asked while three wait
    other_person: list[int]  # same Caf, another person: status, file
    calc: Path


async def campaign_plan(
    conventions: httpx.AsyncClient, api: Api
) -> tuple[dict[str, str], dict[str, Any]]:
    voiron = await make_convention(
        conventions, signataire_ids=(COLLECTIVITE_X, COLLECTIVITE_Y), titre="CTG de Voiron"
    )
    gresivaudan = await make_convention(conventions, titre="CTG du Grésivaudan")
    caf_b = await make_convention(
        conventions, caf_id=CAF_B, signataire_ids=(COLLECTIVITE_Y,), titre="CTG de Valence"
    )
    axe = await api.axe(CAF_A_AGENT, voiron, "Soutenir les parents")
    action = await api.action(
        CAF_A_AGENT,
        voiron,
        axe["id"],
        titre="Ouvrir un lieu d'accueil enfants-parents",
        reference="4.1",
        porteur_ids=[str(COLLECTIVITE_X), str(COLLECTIVITE_Y)],
        statut="en cours",
        date_echeance="2026-03-31",
    )
    ind = await api.indicateur(action["id"], cibles={"2026": 40})
    # Validated: its indicator value counts (art. 9: the Caf validates the suivi).
    await api.suivi_valide(
        action["id"],
        "2026-T1",
        statut_action="en cours",
        avancement=45,
        realisations="Deux ateliers",
        difficultes="-2 animateurs",
        valeurs=[{"indicateur_id": ind["id"], "valeur": 12}],
    )
    axe2 = await api.axe(CAF_A_AGENT, gresivaudan, "Jeunesse")
    await api.action(CAF_A_AGENT, gresivaudan, axe2["id"], titre=FORMULA)
    axe3 = await api.axe(CAF_B_AGENT, caf_b, "Autre Caf")
    await api.action(CAF_B_AGENT, caf_b, axe3["id"], porteur_ids=[str(COLLECTIVITE_Y)])
    titles = {str(voiron): "CTG de Voiron", str(gresivaudan): "CTG du Grésivaudan"}
    return titles, action


@pytest.fixture(scope="module")
async def seen(
    database_url: str, db_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> Seen:
    root = tmp_path_factory.mktemp("campagne")
    await seed_organisations(database_url)
    conv_app = conventions_app(database_url, today=TODAY)
    async with (
        running(conv_app) as conventions,
        clocked(database_url, db_engine, httpx.ASGITransport(app=conv_app)) as api,
    ):
        titles, action = await campaign_plan(conventions, api)
        asked = {fmt: await api.ask(CAF_A_AGENT, fmt=fmt) for fmt in ("ods", "xlsx", "csv")}
        assert {a["etat"] for a in asked.values()} == {"en attente"}
        too_many = await api.post(CAF_A_AGENT, EXPORTS, json=campagne())
        assert await api.run_jobs() == 3
        status, files, headers = {}, {}, {}
        for fmt, export in asked.items():
            r = await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}")
            assert r.status_code == 200, r.text
            status[fmt] = r.json()
            r = await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}/fichier")
            assert r.status_code == 200, r.text
            files[fmt], headers[fmt] = r.content, r.headers
            (root / f"{fmt}.{fmt}").write_bytes(r.content)
        other = [
            (await api.get(CAF_A_LECTEUR, f"{EXPORTS}/{asked['ods']['id']}{suffix}")).status_code
            for suffix in ("", "/fichier")
        ]
        a = (await api.get(X_CONTRIBUTEUR, f"/api/v1/actions/{action['id']}")).json()
        s = (await api.get(X_CONTRIBUTEUR, f"/api/v1/actions/{action['id']}/suivis/2026-T1")).json()
    convert([root / "ods.ods", root / "xlsx.xlsx"], CALC_TO_CSV, root / "csv", root / "profile")
    return Seen(a, s, titles, status, files, headers, too_many, other, root / "csv")


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("fmt", ["ods", "xlsx"])
def test_libreoffice_finds_the_api_values(seen: Seen, fmt: str) -> None:
    rows = _rows(seen.calc / f"{fmt}-Tableau de suivi.csv")
    assert rows[0] == ["Convention", *HEADER]
    # Every action of every convention of Caf A for the quarter; Caf B's is not there.
    assert sorted((r[0], r[3], r[8]) for r in rows[1:]) == [
        ("CTG de Voiron", seen.action["titre"], "2026-T1"),
        ("CTG du Grésivaudan", FORMULA, "2026-T1"),
    ]
    followed = next(r for r in rows[1:] if r[0] == "CTG de Voiron")
    a, s = seen.action, seen.suivi
    assert followed == [
        "CTG de Voiron",
        "4.1",
        "Soutenir les parents",
        a["titre"],
        "Collectivité X (test), Collectivité Y (test)",
        a["statut"],
        "03/31/2026",
        "TRUE" if a["en_retard"] else "FALSE",
        "2026-T1",
        s["etat"],
        f"{s['avancement']}%",
        s["realisations"],
        s["difficultes"],
        "Places créées : 12 / 40 places (30 %)",
    ]
    other = next(r for r in rows[1:] if r[0] == "CTG du Grésivaudan")
    assert other[3] == FORMULA  # text, never evaluated
    assert other[9] == "non renseigné"


def test_csv_for_a_french_spreadsheet(seen: Seen) -> None:
    body = seen.files["csv"]
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [c.header for c in COLONNES_CAMPAGNE]
    assert len(rows) == 3
    followed = next(r for r in rows if r[0] == "CTG de Voiron")
    assert followed[10] == "45 %"
    assert followed[12] == "'-2 animateurs"


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("csv", "text/csv; charset=utf-8"),
    ],
)
def test_the_status_then_a_file_to_save(seen: Seen, fmt: str, media_type: str) -> None:
    status = seen.status[fmt]
    name = f"campagne-2026-T1-Caf A (test)-2026-04-10.{fmt}"
    assert status["etat"] == "prêt"
    assert status["message"] is None
    assert status["parametres"] == {"caf_id": str(CAF_A), "periode": "2026-T1"}
    assert status["nom_fichier"] == name
    assert status["taille"] == len(seen.files[fmt])
    assert status["fichier"] == f"{EXPORTS}/{status['id']}/fichier"
    finished = dt.datetime.fromisoformat(status["fini_le"])
    assert dt.datetime.fromisoformat(status["expire_le"]) == finished + dt.timedelta(hours=24)
    headers = seen.headers[fmt]
    assert headers["content-type"] == media_type
    assert headers["content-disposition"].startswith('attachment; filename="campagne-2026-T1-')
    assert headers["content-length"] == str(status["taille"])


def test_only_the_requester_sees_it(seen: Seen) -> None:
    """A lecteur of the same Caf reads the same conventions, yet not this person's export."""
    assert seen.other_person == [404, 404]


def test_at_most_three_waiting_per_person(seen: Seen) -> None:
    r = seen.too_many
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert "3 exports en attente" in r.json()["detail"]
    assert r.headers["retry-after"] == "30"


async def test_the_file_is_gone_after_24_hours(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    async with clocked(database_url, db_engine) as api:
        export = await api.ask(CAF_A_AGENT, fmt="csv")
        path = f"{EXPORTS}/{export['id']}"
        assert (await api.get(CAF_A_AGENT, f"{path}/fichier")).status_code == 409
        await api.run_jobs()
        api.advance(hours=23, minutes=59)
        assert (await api.get(CAF_A_AGENT, f"{path}/fichier")).status_code == 200
        assert await api.count(ExportMorceau) == 1
        api.advance(minutes=1, seconds=1)
        for suffix in ("", "/fichier"):
            r = await api.get(CAF_A_AGENT, path + suffix)
            assert r.status_code == 404, r.text
            assert "expiré" in r.json()["detail"]
        assert (await api.get(CAF_A_AGENT, EXPORTS)).json()["items"] == []
        # The purge `coop worker` runs deletes the export and its file.
        async with periodic_jobs(api.settings) as periodic:
            (purge,) = [j for j in periodic if j.name == "actions.export-purge"]
            assert await purge.work() == 1
        assert (await api.count(Export), await api.count(ExportMorceau)) == (0, 0)


def _failing(error: Exception) -> GenreExport[Any]:
    """The campaign's kind, whose rows break after some were written."""

    async def feuilles(
        session: AsyncSession, principal: Principal, demande: Any, today: dt.date
    ) -> Sequence[Sheet]:
        async def rows() -> AsyncIterator[Row]:
            for i in range(5000):
                yield (f"CTG {i}", *(None,) * (len(COLONNES_CAMPAGNE) - 1))
            raise error

        return [Sheet("Tableau de suivi", COLONNES_CAMPAGNE, rows())]

    return GenreExport(CAMPAGNE_CAF.demande, CAMPAGNE_CAF.autoriser, feuilles)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NotFound("La convention a disparu."), "La convention a disparu."),
        (RuntimeError("bug"), jobs.ERREUR_INTERNE),
    ],
)
async def test_a_failing_export_ends_in_echec_without_a_half_file(
    database_url: str,
    db_engine: AsyncEngine,
    seeded: None,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    message: str,
) -> None:
    monkeypatch.setitem(jobs.GENRES, jobs.TypeExport.campagne_caf, _failing(error))
    # Small pieces: some are inserted before the rows break.
    monkeypatch.setattr(jobs, "PIECE_BYTES", 1024)
    async with clocked(database_url, db_engine) as api:
        export = await api.ask(CAF_A_AGENT, fmt="csv")
        assert await api.run_jobs() == 1
        r = await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}")
        assert (r.json()["etat"], r.json()["message"]) == ("échec", message)
        assert r.json()["fichier"] is None
        assert "retry-after" not in r.headers
        assert await api.count(ExportMorceau) == 0
        r = await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}/fichier")
        assert r.status_code == 409
        assert "échec" in r.json()["detail"]


async def test_a_run_cut_short_is_taken_again(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    """A worker that died mid-export (claimed, never finished) left nothing: after the
    lease, the next run writes the whole file."""
    async with clocked(database_url, db_engine) as api:
        export = await api.ask(CAF_A_AGENT, fmt="csv")
        async with api.sessionmaker() as session:
            assert await claim(session, api.settings.now(), jobs.LEASE) is not None
            await session.commit()
        r = await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}")
        assert r.json()["etat"] == "en cours"
        assert await api.run_jobs() == 0  # still within its lease: someone runs it
        api.advance(minutes=16)
        assert await api.run_jobs() == 1
        r = await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}")
        assert r.json()["etat"] == "prêt"
        body = (await api.get(CAF_A_AGENT, f"{EXPORTS}/{export['id']}/fichier")).content
        assert body.decode("utf-8-sig").startswith('"Convention";"Référence";')


async def test_a_revoked_grant_loses_the_file(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    """Same scope check at download: the same person, no longer of that Caf."""
    async with clocked(database_url, db_engine) as api:
        export = await api.ask(CAF_A_AGENT)
        await api.run_jobs()
        path = f"{EXPORTS}/{export['id']}/fichier"
        assert (await api.get(CAF_A_AGENT, path)).status_code == 200
        moved = person("caf-a-agent", (CAF_B, CAF, Role.agent))
        assert moved.subject == CAF_A_AGENT.subject
        r = await api.get(moved, path)
        assert r.status_code == 404, r.text


async def test_refused_requests_write_nothing(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    async with clocked(database_url, db_engine) as api:
        cases: list[tuple[Principal, dict[str, Any], int, str]] = [
            (CAF_A_AGENT, {**campagne(), "type": "campagne-cnaf"}, 422, "type"),
            (CAF_A_AGENT, campagne(periode="2026-T5"), 422, "periode"),
            (CAF_A_AGENT, campagne(periode="2026-T3"), 422, "n'a pas commencé"),
            (CAF_A_AGENT, campagne(format="pdf"), 422, "format"),
            (CAF_A_AGENT, campagne(caf_id=str(CAF_B)), 404, "Caf introuvable"),
            (X_CONTRIBUTEUR, campagne(), 403, "réservé aux personnes des Caf"),
            (NATIONAL, campagne(), 422, "Précisez la Caf"),
            (NATIONAL, campagne(caf_id=str(uuid.uuid4())), 404, "Caf introuvable"),
        ]
        for who, body, status, said in cases:
            r = await api.post(who, EXPORTS, json=body)
            assert r.status_code == status, (body, r.text)
            assert said in r.text, r.text
        assert await api.count(Export) == 0
        # A national reader names any Caf; the export holds what it reads there.
        ok = await api.ask(NATIONAL, caf_id=str(CAF_B))
        assert ok["parametres"]["caf_id"] == str(CAF_B)


async def test_my_exports_newest_first_by_pages(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    async with clocked(database_url, db_engine) as api:
        ids = []
        for fmt in ("ods", "xlsx", "csv"):
            ids.append((await api.ask(CAF_A_AGENT, fmt=fmt))["id"])
            api.advance(seconds=1)
        first = (await api.get(CAF_A_AGENT, EXPORTS, params={"limit": 2})).json()
        assert [e["id"] for e in first["items"]] == ids[:0:-1]
        cursor = first["next_cursor"]
        second = (await api.get(CAF_A_AGENT, EXPORTS, params={"cursor": cursor})).json()
        assert [e["id"] for e in second["items"]] == ids[:1]
        assert second["next_cursor"] is None
        assert (await api.get(CAF_A_LECTEUR, EXPORTS)).json()["items"] == []


async def test_the_same_idempotency_key_asks_once(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    """A client that retries its POST (a lost answer) gets the same export, not a second
    one counted against its three."""
    async with clocked(database_url, db_engine) as api:
        key = {"idempotency-key": str(uuid.uuid4())}
        first = await api.post(CAF_A_AGENT, EXPORTS, json=campagne(), headers=key)
        again = await api.post(CAF_A_AGENT, EXPORTS, json=campagne(), headers=key)
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == first.headers["location"]
        assert again.headers["idempotent-replayed"] == "true"
        assert await api.count(Export) == 1


async def test_a_real_worker_runs_it(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    """procrastinate's worker with `coop worker`'s registration of `actions.exports`."""
    async with clocked(database_url, db_engine) as api:
        api.settings.exports_seconds = 1
        export = await api.ask(CAF_A_AGENT, fmt="xlsx")
        path = f"{EXPORTS}/{export['id']}"

        async def ready() -> None:
            while (await api.get(CAF_A_AGENT, path)).json()["etat"] != "prêt":  # noqa: ASYNC110 (state in PostgreSQL)
                await asyncio.sleep(0.2)

        async with periodic_jobs(api.settings) as periodic:
            (job,) = [j for j in periodic if j.name == "actions.exports"]
            await asyncio.wait_for(run_workers(database_url, [job], 1, ready()), timeout=60)
        r = await api.get(CAF_A_AGENT, f"{path}/fichier")
        assert r.status_code == 200
        assert r.content.startswith(b"PK")  # a zip: the workbook
    assert {status for _, status, _ in await finished_ticks(db_engine, job.name)} <= {
        "succeeded",
        "doing",
        "todo",
    }
