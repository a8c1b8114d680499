"""Authorization matrix of the actions service's public routes, through the gateway."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import func, update

from services.actions import service_export_jobs
from services.actions.models import Bilan
from tests.authz.world import (
    PERIODE,
    Call,
    Expected,
    Row,
    Side,
    World,
    both,
    everyone,
    porteur_writes,
    run_rows,
)

C = "/api/v1/conventions"
A = "/api/v1/actions"


def _path(template: str, side: Side) -> str:
    """A path template filled with the side's shared objects."""
    return template.format(
        c=side.convention,
        axe=side.axe,
        a=side.action,
        i=side.indicateur,
        ic=side.indicateur_convention,
        b=side.bilan,
        p=PERIODE,
    )


def get(template: str) -> Call:
    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        return await w.call(who, "GET", _path(template, side))

    return call


def write(
    method: str, template: str, body: dict[str, Any] | None = None, etag: bool = False
) -> Call:
    """A non-destructive write on the side's shared objects (same values again)."""

    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        path = _path(template, side)
        if_match = await w.etag("actions", path) if etag else None
        return await w.call(who, method, path, json=body, if_match=if_match)

    return call


async def _create_axe(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "POST", f"{C}/{side.convention}/axes", json={"titre": "Soutenir"})


async def _axes_ordre(w: World, who: str, side: Side, ok: bool) -> int:
    listed = await w.direct("actions", side.agent, "GET", f"{C}/{side.convention}/axes")
    ids = [a["id"] for a in listed.json()["items"]]
    return await w.call(who, "POST", f"{C}/{side.convention}/axes/ordre", json={"ids": ids})


async def _delete_axe(w: World, who: str, side: Side, ok: bool) -> int:
    axe = await w.new_axe(side) if ok else side.axe
    path = f"{C}/{side.convention}/axes/{axe}"
    return await w.call(who, "DELETE", path, if_match=await w.etag("actions", path))


async def _actions_ordre(w: World, who: str, side: Side, ok: bool) -> int:
    axe = await w.new_axe(side)
    ids = [await w.new_action(side, axe), await w.new_action(side, axe)]
    path = f"{C}/{side.convention}/axes/{axe}/actions/ordre"
    return await w.call(who, "POST", path, json={"ids": ids[::-1]})


async def _create_action(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"axe_id": side.axe, "titre": "Ouvrir un LAEP", "porteur_ids": [str(side.coll)]}
    return await w.call(who, "POST", f"{C}/{side.convention}/actions", json=body)


async def _delete_action(w: World, who: str, side: Side, ok: bool) -> int:
    action = await w.new_action(side) if ok else side.action
    path = f"{A}/{action}"
    return await w.call(who, "DELETE", path, if_match=await w.etag("actions", path))


async def _create_indicateur(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"libelle": "Familles accueillies", "nature": "réalisation", "unite": "familles"}
    return await w.call(who, "POST", f"{A}/{side.action}/indicateurs", json=body)


async def _delete_indicateur(w: World, who: str, side: Side, ok: bool) -> int:
    ind = await w.new_indicateur(side) if ok else side.indicateur
    path = f"{A}/{side.action}/indicateurs/{ind}"
    return await w.call(who, "DELETE", path, if_match=await w.etag("actions", path))


async def _put_valeur(w: World, who: str, side: Side, ok: bool) -> int:
    # A new value on a fresh indicator (the side's own already has one).
    ind = await w.new_indicateur(side) if ok else side.indicateur
    path = f"{A}/{side.action}/indicateurs/{ind}/valeurs/{PERIODE}"
    return await w.call(who, "PUT", path, json={"valeur": 3}, headers={"if-none-match": "*"})


async def _create_indicateur_convention(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"libelle": "Familles", "nature": "réalisation", "unite": "familles"}
    body["axe_id"] = side.axe
    return await w.call(who, "POST", f"{C}/{side.convention}/indicateurs", json=body)


async def _delete_indicateur_convention(w: World, who: str, side: Side, ok: bool) -> int:
    ind = await w.new_indicateur_convention(side) if ok else side.indicateur_convention
    path = f"{C}/{side.convention}/indicateurs/{ind}"
    return await w.call(who, "DELETE", path, if_match=await w.etag("actions", path))


async def _put_valeur_convention(w: World, who: str, side: Side, ok: bool) -> int:
    ind = await w.new_indicateur_convention(side) if ok else side.indicateur_convention
    path = f"{C}/{side.convention}/indicateurs/{ind}/valeurs/{PERIODE}"
    return await w.call(who, "PUT", path, json={"valeur": 3}, headers={"if-none-match": "*"})


async def _set_echeance(w: World, who: str, side: Side, ok: bool) -> int:
    """Change a due date already set, with the ETag read (set it first if needed)."""
    path = f"{C}/{side.convention}/campagnes/{PERIODE}"
    body = {"date_limite": "2026-10-31"}
    etag = await w.etag_if_any("actions", path)
    if etag is None:
        created = await w.direct("actions", side.agent, "PUT", path, json=body)
        etag = created.headers["etag"]
    return await w.call(who, "PUT", path, json=body, if_match=etag)


async def _create_suivi(w: World, who: str, side: Side, ok: bool) -> int:
    action = await w.new_action(side) if ok else side.action
    body = {"periode": PERIODE, "statut_action": "en cours"}
    return await w.call(who, "POST", f"{A}/{action}/suivis", json=body)


def _transition(step: str, state: str, body: dict[str, Any]) -> Call:
    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        action = await w.new_suivi(side, state)
        path = f"{A}/{action}/suivis/{PERIODE}"
        etag = await w.etag("actions", path)
        return await w.call(who, "POST", f"{path}/{step}", json=body, if_match=etag)

    return call


async def _create_bilan(w: World, who: str, side: Side, ok: bool) -> int:
    body = {
        "type": "point d'étape annuel",
        "periode_debut": "2025-01-01",
        "periode_fin": "2025-12-31",
    }
    return await w.call(who, "POST", f"{C}/{side.convention}/bilans", json=body)


async def _create_bilan_final_ended(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"type": "bilan final", "periode_debut": "2020-01-01", "periode_fin": "2024-12-31"}
    return await w.call(who, "POST", f"{C}/{side.echue}/bilans", json=body)


async def _delete_bilan(w: World, who: str, side: Side, ok: bool) -> int:
    bilan = await w.new_bilan(side) if ok else side.bilan
    path = f"/api/v1/bilans/{bilan}"
    return await w.call(who, "DELETE", path, if_match=await w.etag("actions", path))


async def _adopt(w: World, who: str, side: Side, ok: bool) -> int:
    bilan = await w.new_bilan(side) if ok else side.bilan
    path = f"/api/v1/bilans/{bilan}"
    body = {"date_adoption": "2026-11-01"}
    return await w.call(
        who, "POST", f"{path}/adoption", json=body, if_match=await w.etag("actions", path)
    )


async def _relance_archivage(w: World, who: str, side: Side, ok: bool) -> int:
    """An adopted bilan whose report the documents service refused for good (as the
    job records it); for those refused, the side's draft (their 404/403 comes first)."""
    bilan = side.bilan
    if ok:
        bilan = await w.new_bilan(side, adopted=True)
        async with w.apps["actions"].state.sessionmaker() as session:
            await session.execute(
                update(Bilan)
                .where(Bilan.id == uuid.UUID(bilan))
                .values(rapport_archivage_echec_le=func.now(), rapport_archivage_motif="Refusé.")
            )
            await session.commit()
    return await w.call(who, "POST", f"/api/v1/bilans/{bilan}/rapport/archivage")


async def _accord(w: World, who: str, side: Side, ok: bool) -> int:
    bilan = await w.new_bilan(side, adopted=True)
    body = {"collectivite_id": str(side.coll)}
    return await w.call(who, "POST", f"/api/v1/bilans/{bilan}/accords-cdsf", json=body)


async def _transmission(w: World, who: str, side: Side, ok: bool) -> int:
    bilan = await w.new_bilan(side, adopted=True)
    await w.direct(
        "actions",
        side.contributeur,
        "POST",
        f"/api/v1/bilans/{bilan}/accords-cdsf",
        json={"collectivite_id": str(side.coll)},
    )
    path = f"/api/v1/bilans/{bilan}"
    etag = await w.etag("actions", path)
    return await w.call(who, "POST", f"{path}/transmission-cdsf", json={}, if_match=etag)


async def _demande_accords(w: World, who: str, side: Side, ok: bool) -> int:
    bilan = await w.new_bilan(side, adopted=True)
    path = f"/api/v1/bilans/{bilan}"
    etag = await w.etag("actions", path)
    return await w.call(who, "POST", f"{path}/demande-accords-cdsf", json={}, if_match=etag)


async def _retrait_demande(w: World, who: str, side: Side, ok: bool) -> int:
    bilan = await w.new_bilan(side, adopted=True)
    path = f"/api/v1/bilans/{bilan}"
    await w.direct(
        "actions",
        side.agent,
        "POST",
        f"{path}/demande-accords-cdsf",
        if_match=await w.etag("actions", path),
    )
    etag = await w.etag("actions", path)
    return await w.call(who, "DELETE", f"{path}/demande-accords-cdsf", if_match=etag)


async def _campagne_vue(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", f"/api/v1/campagnes/{PERIODE}")


async def _a_renseigner(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", "/api/v1/moi/actions-a-renseigner")


async def _deleted_action_history(w: World, who: str, side: Side, ok: bool) -> int:
    """A deleted action's history is read like its convention (its deletion last)."""
    action = await w.new_action(side)
    path = f"{A}/{action}"
    deleted = await w.direct(
        "actions", side.agent, "DELETE", path, if_match=await w.etag("actions", path)
    )
    assert deleted.status_code == 204, deleted.text
    return await w.call(who, "GET", f"{path}/historique")


async def _comment(w: World, who: str, side: Side, ok: bool) -> dict[str, Any]:
    """A fresh comment on the side's action: the persona's own, posted through the
    gateway, when it is expected to succeed; else one of the side's contributeur."""
    path = f"{A}/{side.action}/commentaires"
    if ok:
        resp = await w.gateway.post(path, json={"texte": "Le mien"}, headers=w.headers(who))
        assert resp.status_code == 201, resp.text
        return dict(resp.json())
    posted = await w.direct("actions", side.contributeur, "POST", path, json={"texte": "Autre"})
    return dict(posted.json())


def _on_comment(method: str, body: dict[str, Any] | None = None, own: bool = True) -> Call:
    """PATCH or DELETE a comment: the persona's own (`own`), else someone else's."""

    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        c = await _comment(w, who, side, ok and own)
        path = f"/api/v1/commentaires/{c['id']}"
        return await w.call(who, method, path, json=body, if_match=await w.etag("actions", path))

    return call


async def _get_comment(w: World, who: str, side: Side, ok: bool) -> int:
    c = await _comment(w, who, side, False)
    return await w.call(who, "GET", f"/api/v1/commentaires/{c['id']}")


AXE = "{c}".join((f"{C}/", "/axes/{axe}"))
ACTION = f"{A}/{{a}}"
IND = f"{A}/{{a}}/indicateurs/{{i}}"
SUIVI = f"{A}/{{a}}/suivis/{{p}}"
BILAN = "/api/v1/bilans/{b}"
IND_C = f"{C}/{{c}}/indicateurs/{{ic}}"

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _plan_file(w: World, side: Side) -> bytes:
    """A plan of one new action (a fresh référence), carried by the side's collectivité
    named as the convention names it."""
    action = await w.direct("actions", side.agent, "GET", f"{A}/{side.action}")
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Référence", "Axe", "Titre", "Porteurs"])
    ws.append(
        [uuid.uuid4().hex[:8], "Agir ensemble", "Ouvrir un LAEP", action.json()["porteur_noms"][0]]
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def _upload(w: World, persona: str, side: Side) -> httpx.Response:
    files = {"fichier": ("plan.xlsx", await _plan_file(w, side), XLSX)}
    return await w.gateway.post(
        f"{C}/{side.convention}/imports", headers=w.headers(persona), files=files
    )


async def _deposer(w: World, who: str, side: Side, ok: bool) -> int:
    return (await _upload(w, who, side)).status_code


def _on_import(method: str, suffix: str = "", body: dict[str, Any] | None = None) -> Call:
    """A call on an import: the caller's own when it may succeed (an import is its
    author's alone), else one of the side's Caf agent."""

    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        owner = who if ok else f"caf_{side.name.lower()}_agent"
        created = await _upload(w, owner, side)
        assert created.status_code == 201, created.text
        path = f"{C}/{side.convention}/imports/{created.json()['id']}{suffix}"
        if_match = created.headers["etag"] if suffix == "/validation" else None
        return await w.call(who, method, path, json=body, if_match=if_match)

    return call


ROWS: dict[tuple[str, str], list[Row]] = {
    ("GET", "/api/v1/conventions/{convention_id}/axes"): both(
        "axes", get(f"{C}/{{c}}/axes"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/axes"): both(
        "create", _create_axe, "caf_writes", 201
    ),
    ("POST", "/api/v1/conventions/{convention_id}/axes/ordre"): both(
        "order", _axes_ordre, "caf_writes"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/axes/{axe_id}"): both("axe", get(AXE), "reads"),
    ("PATCH", "/api/v1/conventions/{convention_id}/axes/{axe_id}"): both(
        "axe", write("PATCH", AXE, {"description": "Axe de la matrice"}, etag=True), "caf_writes"
    ),
    ("DELETE", "/api/v1/conventions/{convention_id}/axes/{axe_id}"): both(
        "axe", _delete_axe, "caf_writes", 204
    ),
    ("POST", "/api/v1/conventions/{convention_id}/axes/{axe_id}/actions/ordre"): both(
        "order", _actions_ordre, "caf_writes"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/actions"): both(
        "actions", get(f"{C}/{{c}}/actions"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/actions"): both(
        "create", _create_action, "porteur_writes", 201
    ),
    ("GET", "/api/v1/actions/{action_id}"): both("action", get(ACTION), "reads"),
    ("PATCH", "/api/v1/actions/{action_id}"): both(
        "fiche",
        write("PATCH", ACTION, {"referent": "Chargée de coopération"}, etag=True),
        "porteur_writes",
    ),
    ("DELETE", "/api/v1/actions/{action_id}"): both("action", _delete_action, "caf_writes", 204),
    ("GET", "/api/v1/actions/{action_id}/indicateurs"): both(
        "indicateurs", get(f"{ACTION}/indicateurs"), "reads"
    ),
    ("POST", "/api/v1/actions/{action_id}/indicateurs"): both(
        "create", _create_indicateur, "porteur_writes", 201
    ),
    ("GET", "/api/v1/actions/{action_id}/indicateurs/{indicateur_id}"): both(
        "indicateur", get(IND), "reads"
    ),
    ("PATCH", "/api/v1/actions/{action_id}/indicateurs/{indicateur_id}"): both(
        "indicateur", write("PATCH", IND, {"unite": "places"}, etag=True), "porteur_writes"
    ),
    ("GET", "/api/v1/actions/{action_id}/indicateurs/{indicateur_id}/valeurs/{periode}"): both(
        "valeur", get(f"{IND}/valeurs/{{p}}"), "reads"
    ),
    ("PUT", "/api/v1/actions/{action_id}/indicateurs/{indicateur_id}/valeurs/{periode}"): both(
        "valeur", _put_valeur, "porteur_writes", 201
    ),
    ("DELETE", "/api/v1/actions/{action_id}/indicateurs/{indicateur_id}"): both(
        "indicateur", _delete_indicateur, "porteur_writes", 204
    ),
    ("GET", "/api/v1/conventions/{convention_id}/indicateurs"): both(
        "indicateurs", get(f"{C}/{{c}}/indicateurs"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/indicateurs"): both(
        "create", _create_indicateur_convention, "signataire_writes", 201
    ),
    ("GET", "/api/v1/conventions/{convention_id}/indicateurs/{indicateur_id}"): both(
        "indicateur", get(IND_C), "reads"
    ),
    ("PATCH", "/api/v1/conventions/{convention_id}/indicateurs/{indicateur_id}"): both(
        "indicateur", write("PATCH", IND_C, {"unite": "%"}, etag=True), "signataire_writes"
    ),
    ("DELETE", "/api/v1/conventions/{convention_id}/indicateurs/{indicateur_id}"): both(
        "indicateur", _delete_indicateur_convention, "signataire_writes", 204
    ),
    (
        "GET",
        "/api/v1/conventions/{convention_id}/indicateurs/{indicateur_id}/valeurs/{periode}",
    ): both("valeur", get(f"{IND_C}/valeurs/{{p}}"), "reads"),
    (
        "PUT",
        "/api/v1/conventions/{convention_id}/indicateurs/{indicateur_id}/valeurs/{periode}",
    ): both("valeur", _put_valeur_convention, "signataire_writes", 201),
    ("GET", "/api/v1/actions/{action_id}/suivis"): both("suivis", get(f"{ACTION}/suivis"), "reads"),
    ("POST", "/api/v1/actions/{action_id}/suivis"): both(
        "create", _create_suivi, "porteur_writes", 201
    ),
    ("GET", "/api/v1/actions/{action_id}/suivis/{periode}"): both("suivi", get(SUIVI), "reads"),
    ("PATCH", "/api/v1/actions/{action_id}/suivis/{periode}"): both(
        "brouillon", write("PATCH", SUIVI, {"avancement": 40}, etag=True), "porteur_writes"
    ),
    ("POST", "/api/v1/actions/{action_id}/suivis/{periode}/soumission"): both(
        "brouillon", _transition("soumission", "brouillon", {}), "porteur_writes"
    ),
    ("POST", "/api/v1/actions/{action_id}/suivis/{periode}/validation"): both(
        "soumis", _transition("validation", "soumis", {}), "caf_writes"
    ),
    ("POST", "/api/v1/actions/{action_id}/suivis/{periode}/renvoi"): both(
        "soumis", _transition("renvoi", "soumis", {"commentaire": "Préciser"}), "caf_writes"
    ),
    ("POST", "/api/v1/actions/{action_id}/suivis/{periode}/correction"): both(
        "validé", _transition("correction", "validé", {"motif": "Erreur"}), "porteur_writes"
    ),
    ("GET", "/api/v1/actions/{action_id}/suivis/{periode}/historique"): both(
        "historique", get(f"{SUIVI}/historique"), "reads"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/axes/{axe_id}/historique"): both(
        "historique d'un axe", get(f"{AXE}/historique"), "reads"
    ),
    ("GET", "/api/v1/actions/{action_id}/historique"): [
        *both("historique d'une action", get(f"{ACTION}/historique"), "reads"),
        *both("historique d'une action supprimée", _deleted_action_history, "reads"),
    ],
    ("GET", "/api/v1/actions/{action_id}/indicateurs/{indicateur_id}/historique"): both(
        "historique d'un indicateur", get(f"{IND}/historique"), "reads"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/indicateurs/{indicateur_id}/historique"): both(
        "historique d'un indicateur de la convention", get(f"{IND_C}/historique"), "reads"
    ),
    # Discussions: the action's readers read; the Caf's agents and the signatory
    # collectivités' write roles post; the author corrects and deletes, a Caf agent
    # moderates.
    ("GET", "/api/v1/actions/{action_id}/commentaires"): both(
        "fil", get(f"{ACTION}/commentaires"), "reads"
    ),
    ("POST", "/api/v1/actions/{action_id}/commentaires"): both(
        "commenter",
        write("POST", f"{ACTION}/commentaires", {"texte": "Oui"}),
        "signataire_writes",
        201,
    ),
    ("GET", "/api/v1/actions/{action_id}/suivis/{periode}/commentaires"): both(
        "fil du suivi", get(f"{SUIVI}/commentaires"), "reads"
    ),
    ("POST", "/api/v1/actions/{action_id}/suivis/{periode}/commentaires"): both(
        "commenter le suivi",
        write("POST", f"{SUIVI}/commentaires", {"texte": "Oui"}),
        "signataire_writes",
        201,
    ),
    ("GET", "/api/v1/actions/{action_id}/mentionnables"): both(
        "mentionnables", get(f"{ACTION}/mentionnables"), "signataire_writes"
    ),
    ("GET", "/api/v1/commentaires/{commentaire_id}"): both("commentaire", _get_comment, "reads"),
    ("PATCH", "/api/v1/commentaires/{commentaire_id}"): both(
        "le sien", _on_comment("PATCH", {"texte": "Corrigé"}), "signataire_writes"
    ),
    ("DELETE", "/api/v1/commentaires/{commentaire_id}"): [
        *both("le sien", _on_comment("DELETE"), "signataire_writes", 204),
        *both("modération", _on_comment("DELETE", own=False), "caf_writes", 204),
    ],
    ("GET", "/api/v1/conventions/{convention_id}/campagnes"): both(
        "campagnes", get(f"{C}/{{c}}/campagnes"), "reads"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/campagnes/{periode}"): both(
        "campagne", get(f"{C}/{{c}}/campagnes/{{p}}"), "reads"
    ),
    ("PUT", "/api/v1/conventions/{convention_id}/campagnes/{periode}"): both(
        "échéance", _set_echeance, "caf_writes"
    ),
    ("GET", "/api/v1/campagnes/{periode}"): [("my scope", "A", _campagne_vue, everyone())],
    # The tableau de suivi as a file: whoever reads the convention (porteurs' names read
    # from the conventions service over HTTP).
    ("GET", "/api/v1/conventions/{convention_id}/tableau-de-suivi"): [
        *both("ods", get(f"{C}/{{c}}/tableau-de-suivi"), "reads"),
        *both("csv", get(f"{C}/{{c}}/tableau-de-suivi?format=csv&periode={{p}}"), "reads"),
    ],
    # The import of a plan d'actions: its template for the convention's readers; the
    # import itself for the Caf's agents, each import its author's alone.
    ("GET", "/api/v1/conventions/{convention_id}/actions/modele-import"): both(
        "modèle", get(f"{C}/{{c}}/actions/modele-import?format=xlsx"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/imports"): both(
        "dépôt", _deposer, "caf_writes", 201
    ),
    ("GET", "/api/v1/conventions/{convention_id}/imports/{import_id}"): both(
        "rapport", _on_import("GET"), "caf_writes"
    ),
    ("PUT", "/api/v1/conventions/{convention_id}/imports/{import_id}/correspondance"): both(
        "correspondance",
        _on_import("PUT", "/correspondance", {"colonnes": {"titre": "C"}}),
        "caf_writes",
    ),
    ("POST", "/api/v1/conventions/{convention_id}/imports/{import_id}/validation"): both(
        "validation", _on_import("POST", "/validation"), "caf_writes"
    ),
    ("GET", "/api/v1/moi/actions-a-renseigner"): [("mine", "A", _a_renseigner, everyone())],
    ("GET", "/api/v1/conventions/{convention_id}/bilans"): both(
        "bilans", get(f"{C}/{{c}}/bilans"), "reads"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/bilans/attendus"): both(
        "attendus", get(f"{C}/{{c}}/bilans/attendus"), "reads"
    ),
    # Art. 9: the collectivités' designated persons conduct the evaluation (bilans).
    ("POST", "/api/v1/conventions/{convention_id}/bilans"): [
        *both("create", _create_bilan, "signataire_writes", 201),
        # Ended: the bilan final is still written, by the same people (art. 9; 002).
        *both("final, ended", _create_bilan_final_ended, "signataire_writes", 201),
    ],
    ("GET", "/api/v1/bilans/{bilan_id}"): both("bilan", get(BILAN), "reads"),
    # Its report: whoever reads the bilan (404 outside the scope, before any rendering).
    ("GET", "/api/v1/bilans/{bilan_id}/rapport.odt"): both(
        "odt", get(f"{BILAN}/rapport.odt"), "reads"
    ),
    ("GET", "/api/v1/bilans/{bilan_id}/rapport.pdf"): both(
        "pdf", get(f"{BILAN}/rapport.pdf"), "reads"
    ),
    ("PATCH", "/api/v1/bilans/{bilan_id}"): both(
        "brouillon",
        write("PATCH", BILAN, {"periode_fin": "2029-12-31"}, etag=True),
        "signataire_writes",
    ),
    ("DELETE", "/api/v1/bilans/{bilan_id}"): both("brouillon", _delete_bilan, "caf_writes", 204),
    ("POST", "/api/v1/bilans/{bilan_id}/adoption"): both("adopt", _adopt, "adopters"),
    # Its report's archiving, relaunched after a refusal for good: those who adopt it.
    ("POST", "/api/v1/bilans/{bilan_id}/rapport/archivage"): both(
        "relaunch", _relance_archivage, "adopters"
    ),
    # Each collectivité records its own agreement: not even the Caf's agents for it.
    ("POST", "/api/v1/bilans/{bilan_id}/accords-cdsf"): [
        ("accord A", "A", _accord, {**porteur_writes("A"), "caf_a_agent": 403}),
        ("accord B", "B", _accord, {**porteur_writes("B"), "caf_b_agent": 403}),
    ],
    ("POST", "/api/v1/bilans/{bilan_id}/transmission-cdsf"): both(
        "transmit", _transmission, "caf_writes"
    ),
    # The Caf asks the collectivités' agreement, and withdraws its request.
    ("POST", "/api/v1/bilans/{bilan_id}/demande-accords-cdsf"): both(
        "ask", _demande_accords, "caf_writes"
    ),
    ("DELETE", "/api/v1/bilans/{bilan_id}/demande-accords-cdsf"): both(
        "withdraw", _retrait_demande, "caf_writes"
    ),
}


# -- large exports (a Caf's campaign): each its requester's alone ---------------------


def _export_body(side: Side) -> dict[str, Any]:
    return {"type": "campagne-caf", "format": "csv", "caf_id": str(side.caf), "periode": PERIODE}


async def _run_exports(w: World) -> None:
    """What `coop worker` does: the exports waiting written (none piles up)."""
    app = w.apps["actions"]
    await service_export_jobs.run_pending(app.state.sessionmaker, app.state.actions.settings)


async def _ask_export(w: World, who: str, side: Side, ok: bool) -> int:
    status = await w.call(who, "POST", "/api/v1/exports", json=_export_body(side))
    await _run_exports(w)
    return status


def _on_export(suffix: str = "") -> Call:
    """A call on an export: the caller's own when it may succeed (a Caf's people, a
    national reader), else the side's Caf agent's (anyone else's: 404)."""

    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        if ok:
            created = await w.gateway.post(
                "/api/v1/exports", json=_export_body(side), headers=w.headers(who)
            )
        else:
            created = await w.direct(
                "actions", side.agent, "POST", "/api/v1/exports", json=_export_body(side)
            )
        assert created.status_code == 202, created.text
        await _run_exports(w)
        return await w.call(who, "GET", f"/api/v1/exports/{created.json()['id']}{suffix}")

    return call


_CAF = {"A": ("caf_a_agent", "caf_a_lecteur"), "B": ("caf_b_agent",)}
_OTHER_CAF = {"A": _CAF["B"], "B": _CAF["A"]}


def _caf_people(side: str, status: int) -> Expected:
    """The Caf's own people and national readers; the other Caf 404; collectivités 403
    (a Caf's campaign is never theirs)."""
    out = everyone(403)
    out.update(dict.fromkeys(_OTHER_CAF[side], 404))
    out.update(dict.fromkeys((*_CAF[side], "national"), status))
    return out


def _requester(side: str) -> Expected:
    """Only whoever asked for it (those who may ask: the Caf's people, national)."""
    out = everyone(404)
    out.update(dict.fromkeys((*_CAF[side], "national"), 200))
    return out


async def _ask_national(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"type": "national", "format": "csv", "annee": int(PERIODE[:4])}
    status = await w.call(who, "POST", "/api/v1/exports", json=body)
    await _run_exports(w)
    return status


def _national_readers(status: int) -> Expected:
    """The national export: national readers alone; anyone else 403 (a role's right)."""
    out = everyone(403)
    out["national"] = status
    return out


EXPORT_ROWS: dict[tuple[str, str], list[Row]] = {
    ("POST", "/api/v1/exports"): [
        *[(f"campagne {n}", n, _ask_export, _caf_people(n, 202)) for n in ("A", "B")],
        ("national", "A", _ask_national, _national_readers(202)),
    ],
    ("GET", "/api/v1/exports"): [("mine", "A", get("/api/v1/exports"), everyone())],
    ("GET", "/api/v1/exports/{export_id}"): [
        (f"état {n}", n, _on_export(), _requester(n)) for n in ("A", "B")
    ],
    ("GET", "/api/v1/exports/{export_id}/fichier"): [
        (f"fichier {n}", n, _on_export("/fichier"), _requester(n)) for n in ("A", "B")
    ],
}
ROWS.update(EXPORT_ROWS)


@pytest.mark.parametrize("route", sorted(ROWS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_matrix(world: World, route: tuple[str, str]) -> None:
    failures = await run_rows(world, ROWS[route])
    assert not failures, "\n".join(failures)
