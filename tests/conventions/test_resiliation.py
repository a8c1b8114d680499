"""The end of the convention as art. 12 of the model convention (003) writes it: mises en
demeure, résiliation with or without one, dénonciation; who initiated it and why."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.principal import Principal
from services.conventions.schemas import ConventionOut
from tests.conventions.helpers import create, h, history, table_counts
from tests.support.contract import assert_reads_back
from tests.support.conventions import make_convention
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    COLLECTIVITE_X,
    X_CONTRIBUTEUR,
    X_REFERENT,
)

LETTRE = uuid.UUID("0b6f1e2a-5a3c-4c1e-9a57-3f0c1d2e4b5a")


async def _mise_en_demeure(
    client: httpx.AsyncClient,
    cid: object,
    date_envoi: str,
    *,
    who: Principal = CAF_A_AGENT,
    **body: object,
) -> httpx.Response:
    data = {
        "date_envoi": date_envoi,
        "emetteur_id": str(CAF_A),
        "destinataire_id": str(COLLECTIVITE_X),
        "obligations": "Transmettre le bilan annuel d'activité du chargé de coopération.",
        "lettre_document_id": str(LETTRE),
        **body,
    }
    return await client.post(
        f"/api/v1/conventions/{cid}/mises-en-demeure", json=data, headers=h(who)
    )


async def _resilier(
    client: httpx.AsyncClient, cid: object, *, who: Principal = CAF_A_AGENT, **body: object
) -> httpx.Response:
    data = {"motif": "Non-respect des engagements", **body}
    return await client.post(f"/api/v1/conventions/{cid}/resiliation", json=data, headers=h(who))


async def _mises_en_demeure(client: httpx.AsyncClient, cid: object) -> dict[str, Any]:
    listed = await client.get(f"/api/v1/conventions/{cid}/mises-en-demeure", headers=h())
    assert listed.status_code == 200, listed.text
    return {m["id"]: m for m in listed.json()}


async def test_avec_mise_en_demeure_once_a_month_has_passed_left_unanswered(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """003 art. 12: "celle-ci pourra être résiliée de plein droit par l'une ou l'autre
    partie, à l'expiration d'un délai d'un mois suivant l'envoi d'une lettre recommandée
    avec avis de réception valant mise en demeure de se conformer aux obligations
    contractuelles et restée infructueuse." """
    cid = await make_convention(client)
    old = await _mise_en_demeure(client, cid, "2026-10-20")
    assert old.status_code == 201, old.text
    assert old.json()["statut"] == "en cours"
    assert old.json()["lettre_document_id"] == str(LETTRE)
    assert old.json()["resiliable_a_partir_du"] == "2026-11-20"
    # Names beside ids: the parties as a client shows them.
    assert old.json()["emetteur_nom"] == "Caf A (test)"
    assert old.json()["destinataire_nom"] == "Collectivité X (test)"
    # Its author too, as named when they acted (issue 23).
    assert (old.json()["auteur"], old.json()["auteur_nom"]) == (CAF_A_AGENT.subject, "Caf A Agent")
    recent = await _mise_en_demeure(client, cid, "2026-11-10")
    assert recent.status_code == 201, recent.text
    conv = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    assert conv["statut"] == "signée"  # a mise en demeure ends nothing by itself
    assert "mettre en demeure" in conv["transitions_disponibles"]

    before = await table_counts(db_engine)
    no_letter = await _resilier(client, cid, mode="avec mise en demeure")
    assert no_letter.status_code == 409
    assert "mise en demeure restée infructueuse" in no_letter.json()["detail"]
    too_soon = await _resilier(
        client, cid, mode="avec mise en demeure", mise_en_demeure_id=recent.json()["id"]
    )
    assert too_soon.status_code == 409
    assert too_soon.json()["resiliable_a_partir_du"] == "2026-12-10"
    assert "2026-12-10" in too_soon.json()["detail"]
    not_the_sender = await _resilier(
        client,
        cid,
        mode="avec mise en demeure",
        mise_en_demeure_id=old.json()["id"],
        initiateur_id=str(COLLECTIVITE_X),
    )
    assert not_the_sender.status_code == 409
    assert await table_counts(db_engine) == before

    done = await _resilier(
        client, cid, mode="avec mise en demeure", mise_en_demeure_id=old.json()["id"]
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["statut"], body["etat"]) == ("résiliée", "résiliée")
    assert body["resiliation"] == {
        "mode": "avec mise en demeure",
        "date_notification": "2026-11-24",
        "motif": "Non-respect des engagements",
        "date_effet": "2026-11-24",
        "initiateur_id": str(CAF_A),
        "initiateur_nom": "Caf A (test)",
        "mise_en_demeure_id": old.json()["id"],
    }
    detail = await client.get(f"/api/v1/conventions/{cid}", headers=h())
    assert_reads_back(detail.content, ConventionOut)
    assert detail.json() == body
    letters = await _mises_en_demeure(client, cid)
    assert letters[old.json()["id"]]["statut"] == "restée infructueuse"
    assert letters[old.json()["id"]]["destinataire_nom"] == "Collectivité X (test)"
    assert letters[old.json()["id"]]["date_cloture"] == "2026-11-24"
    # The other pending one has nothing left to lead to.
    assert letters[recent.json()["id"]]["statut"] == "sans objet"
    last = (await history(client, cid))[0]
    assert last["evenement"] == "résiliation"
    assert last["details"]["initiateur_id"] == str(CAF_A)
    # What it changed, field by field.
    changed = {c["champ"]: (c["avant"], c["apres"]) for c in last["changements"]}
    assert changed["statut"] == ("signée", "résiliée")
    assert changed["date_effet_resiliation"] == (None, "2026-11-24")


async def test_a_mise_en_demeure_is_closed_when_the_party_complies(
    client: httpx.AsyncClient,
) -> None:
    """003 art. 12: the résiliation follows a mise en demeure "restée infructueuse": one
    the party answered by complying leads to none."""
    cid = await make_convention(client)
    sent = (await _mise_en_demeure(client, cid, "2026-09-01")).json()
    levee = await client.post(
        f"/api/v1/conventions/{cid}/mises-en-demeure/{sent['id']}/levee",
        json={"date_cloture": "2026-09-20", "motif": "Bilan transmis le 18 septembre."},
        headers=h(),
    )
    assert levee.status_code == 200, levee.text
    assert levee.json()["statut"] == "levée"
    assert levee.json()["motif_cloture"] == "Bilan transmis le 18 septembre."
    again = await client.post(
        f"/api/v1/conventions/{cid}/mises-en-demeure/{sent['id']}/levee", headers=h()
    )
    assert again.status_code == 409
    resp = await _resilier(client, cid, mode="avec mise en demeure", mise_en_demeure_id=sent["id"])
    assert resp.status_code == 409
    assert "close" in resp.json()["detail"]
    unknown = await client.post(
        f"/api/v1/conventions/{cid}/mises-en-demeure/{uuid.uuid4()}/levee", headers=h()
    )
    assert unknown.status_code == 404


async def test_infractions_aux_lois_et_reglements_are_the_caf_s(client: httpx.AsyncClient) -> None:
    """003 art. 12: "Les infractions par l'une ou l'autre des parties aux lois et
    règlements en vigueur entraîneront la résiliation de plein droit de la présente
    convention par la Caf [...] mise en demeure de se conformer aux obligations légales
    ou réglementaires en vigueur et restée infructueuse." """
    cid = await make_convention(client)
    by_x = await _mise_en_demeure(
        client,
        cid,
        "2026-11-02",
        emetteur_id=str(COLLECTIVITE_X),
        destinataire_id=str(CAF_A),
        fondement="lois et règlements",
    )
    assert by_x.status_code == 409
    assert "la Caf" in by_x.json()["detail"]
    by_caf = await _mise_en_demeure(client, cid, "2026-10-02", fondement="lois et règlements")
    assert by_caf.status_code == 201, by_caf.text
    assert by_caf.json()["fondement"] == "lois et règlements"
    resp = await _resilier(
        client, cid, mode="avec mise en demeure", mise_en_demeure_id=by_caf.json()["id"]
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["resiliation"]["initiateur_id"] == str(CAF_A)


async def test_mise_en_demeure_refusals(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    cid = await make_convention(client)
    draft = await create(client)
    before = await table_counts(db_engine)
    assert (await _mise_en_demeure(client, draft["id"], "2026-11-02")).status_code == 409
    future = await _mise_en_demeure(client, cid, "2026-12-02")
    assert future.status_code == 422
    stranger = await _mise_en_demeure(client, cid, "2026-11-02", destinataire_id=str(uuid.uuid4()))
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["pointer"] == "/destinataire_id"
    itself = await _mise_en_demeure(client, cid, "2026-11-02", destinataire_id=str(CAF_A))
    assert itself.status_code == 422
    no_obligations = await _mise_en_demeure(client, cid, "2026-11-02", obligations=" ")
    assert no_obligations.status_code == 422
    # A collectivité's referent acts for its own collectivité only.
    for_the_caf = await _mise_en_demeure(client, cid, "2026-11-02", who=X_REFERENT)
    assert for_the_caf.status_code == 403
    contributor = await _mise_en_demeure(
        client,
        cid,
        "2026-11-02",
        who=X_CONTRIBUTEUR,
        emetteur_id=str(COLLECTIVITE_X),
        destinataire_id=str(CAF_A),
    )
    assert contributor.status_code == 403
    assert await table_counts(db_engine) == before


async def test_sans_mise_en_demeure_by_the_caf_only(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """003 art. 12: "La présente convention sera résiliée de plein droit par la Caf, sans
    qu'il soit besoin de procéder à une mise en demeure [...] en cas de modification d'un
    des termes de la présente convention sans la signature d'un avenant." """
    cid = await make_convention(client)
    before = await table_counts(db_engine)
    for_x = await _resilier(
        client, cid, mode="sans mise en demeure", initiateur_id=str(COLLECTIVITE_X)
    )
    assert for_x.status_code == 409
    assert "par la Caf seule" in for_x.json()["detail"]
    referent = await _resilier(client, cid, mode="sans mise en demeure", who=X_REFERENT)
    assert referent.status_code == 403
    assert await table_counts(db_engine) == before
    motif = "Horaires de l'EAJE modifiés sans avenant."
    resp = await _resilier(client, cid, mode="sans mise en demeure", motif=motif)
    assert resp.status_code == 200, resp.text
    resiliation = resp.json()["resiliation"]
    assert (resiliation["initiateur_id"], resiliation["motif"]) == (str(CAF_A), motif)
    assert resiliation["date_effet"] == "2026-11-24"
    assert resp.json()["etat"] == "résiliée"


async def test_denonciation_by_any_party_with_six_months_notice(client: httpx.AsyncClient) -> None:
    """003 art. 12: "La présente convention peut être dénoncée par l'une ou l'autre des
    parties moyennant un délai de prévenance de 6 mois." A Caf agent enters it on behalf
    of a party; a signatory collectivité's referent for its own collectivité."""
    on_behalf = await make_convention(client)
    resp = await _resilier(
        client,
        on_behalf,
        mode="dénonciation",
        date_notification="2026-10-31",
        initiateur_id=str(COLLECTIVITE_X),
        motif="Réorganisation des services municipaux.",
    )
    assert resp.status_code == 200, resp.text
    resiliation = resp.json()["resiliation"]
    assert resiliation["mode"] == "dénonciation"
    assert resiliation["initiateur_id"] == str(COLLECTIVITE_X)
    assert resiliation["initiateur_nom"] == "Collectivité X (test)"
    assert resiliation["date_effet"] == "2027-04-30"
    # Notice running: still active, nothing else may happen to it.
    assert (resp.json()["statut"], resp.json()["etat"]) == ("résiliée", "active")
    assert resp.json()["transitions_disponibles"] == []

    by_referent = await make_convention(client)
    as_caf = await _resilier(
        client, by_referent, who=X_REFERENT, mode="dénonciation", initiateur_id=str(CAF_A)
    )
    assert as_caf.status_code == 403
    own = await _resilier(client, by_referent, who=X_REFERENT, mode="dénonciation")
    assert own.status_code == 200, own.text
    assert own.json()["resiliation"]["initiateur_id"] == str(COLLECTIVITE_X)
    # The referent sees no Caf transition.
    assert own.json()["transitions_disponibles"] == []

    # The former label, "consentement mutuel" (art. 12's heading), still works.
    legacy = await make_convention(client)
    resp = await _resilier(client, legacy, mode="consentement mutuel")
    assert resp.status_code == 200, resp.text
    assert resp.json()["resiliation"]["mode"] == "dénonciation"
    assert resp.json()["resiliation"]["initiateur_id"] == str(CAF_A)


async def test_a_referent_is_offered_its_own_acts(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client)
    referent = (await client.get(f"/api/v1/conventions/{cid}", headers=h(X_REFERENT))).json()
    assert referent["transitions_disponibles"] == ["mettre en demeure", "résilier"]
    listed = (await client.get("/api/v1/conventions", headers=h(X_REFERENT))).json()
    assert listed["items"][0]["transitions_disponibles"] == ["mettre en demeure", "résilier"]
    contributor = await client.get(f"/api/v1/conventions/{cid}", headers=h(X_CONTRIBUTEUR))
    assert contributor.json()["transitions_disponibles"] == []
    sent = await _mise_en_demeure(
        client,
        cid,
        "2026-10-01",
        who=X_REFERENT,
        emetteur_id=str(COLLECTIVITE_X),
        destinataire_id=str(CAF_A),
    )
    assert sent.status_code == 201, sent.text
    resp = await _resilier(
        client,
        cid,
        who=X_REFERENT,
        mode="avec mise en demeure",
        mise_en_demeure_id=sent.json()["id"],
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["resiliation"]["initiateur_id"] == str(COLLECTIVITE_X)


async def test_resiliation_refusals(client: httpx.AsyncClient) -> None:
    draft = await create(client)
    resp = await _resilier(client, draft["id"], mode="sans mise en demeure")
    assert resp.status_code == 409
    ending = await make_convention(
        client, date_debut=dt.date(2023, 1, 1), date_fin=dt.date(2027, 1, 31)
    )
    late = await _resilier(client, ending, mode="dénonciation")
    assert late.status_code == 409
    assert "après la fin" in late.json()["detail"]
    future = await _resilier(
        client, ending, mode="sans mise en demeure", date_notification="2026-12-01"
    )
    assert future.status_code == 422
    echue = await make_convention(
        client, date_debut=dt.date(2020, 1, 1), date_fin=dt.date(2024, 12, 31)
    )
    got = (await client.get(f"/api/v1/conventions/{echue}", headers=h())).json()
    assert got["etat"] == "échue"
    assert got["transitions_disponibles"] == ["renouveler"]
    resp = await _resilier(client, echue, mode="sans mise en demeure")
    assert resp.status_code == 409
    cid = await make_convention(client)
    assert (await _resilier(client, cid, mode="sans mise en demeure")).status_code == 200
    again = await _resilier(client, cid, mode="dénonciation")
    assert again.status_code == 409
    avenant = await client.post(
        f"/api/v1/conventions/{cid}/avenants",
        json={"date_avenant": "2026-06-01", "objet": "x", "articles_modifies": ["Article 1"]},
        headers=h(),
    )
    assert avenant.status_code == 409
    letter = await _mise_en_demeure(client, cid, "2026-11-02")
    assert letter.status_code == 409
