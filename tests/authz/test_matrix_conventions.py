"""Authorization matrix of the conventions service's public routes, through the gateway."""

from __future__ import annotations

import pytest

from tests.authz.world import Call, Row, Side, World, _all, both, everyone, run_rows
from tests.support.personas import COLLECTIVITE_X

C = "/api/v1/conventions"


def get(suffix: str) -> Call:
    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        path = suffix.format(c=side.convention, p=side.preparation, coll=side.coll)
        return await w.call(who, "GET", f"{C}/{path}".rstrip("/"))

    return call


async def _list(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", C)


async def _create(w: World, who: str, side: Side, ok: bool) -> int:
    body = {
        "caf_id": str(side.caf),
        "echelon": "commune",
        "titre": "CTG créée par la matrice",
        "date_debut": "2025-01-01",
        "date_fin": "2029-12-31",
        "thematiques": ["petite enfance", "enfance", "jeunesse", "parentalité"],
        "signataires": [{"organisation_id": str(side.caf)}],
    }
    return await w.call(who, "POST", C, json=body)


async def _patch(w: World, who: str, side: Side, ok: bool) -> int:
    path = f"{C}/{side.preparation}"
    etag = await w.etag("conventions", path)
    return await w.call(who, "PATCH", path, json={"titre": "CTG en préparation"}, if_match=etag)


async def _add_signataire(w: World, who: str, side: Side, ok: bool) -> int:
    cid = await w.new_convention(side, signee=False, with_coll=False) if ok else side.preparation
    body = {"organisation_id": str(side.coll), "representant": "Maire"}
    return await w.call(who, "POST", f"{C}/{cid}/signataires", json=body)


async def _patch_signataire(w: World, who: str, side: Side, ok: bool) -> int:
    path = f"{C}/{side.preparation}/signataires/{side.coll}"
    return await w.call(who, "PATCH", path, json={"representant": "Maire"})


async def _remove_signataire(w: World, who: str, side: Side, ok: bool) -> int:
    cid = await w.new_convention(side, signee=False) if ok else side.preparation
    return await w.call(who, "DELETE", f"{C}/{cid}/signataires/{side.coll}")


async def _sign(w: World, who: str, side: Side, ok: bool) -> int:
    cid = await w.new_convention(side, signee=False) if ok else side.preparation
    return await w.call(who, "POST", f"{C}/{cid}/signature")


async def _avenant(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"date_avenant": "2026-06-01", "objet": "Annexe 2", "articles_modifies": ["Annexe 2"]}
    return await w.call(who, "POST", f"{C}/{side.convention}/avenants", json=body)


def _resilier(mode: str) -> Call:
    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        cid = await w.new_convention(side) if ok else side.convention
        body = {"mode": mode, "motif": "Matrice"}
        return await w.call(who, "POST", f"{C}/{cid}/resiliation", json=body)

    return call


async def _resilier_apres_mise_en_demeure(w: World, who: str, side: Side, ok: bool) -> int:
    # Sent by the side's collectivité over a month ago: its referent may pronounce it.
    cid = await w.new_convention(side) if ok else side.convention
    letter = await w.new_mise_en_demeure(side, cid) if ok else side.mise_en_demeure
    body = {"mode": "avec mise en demeure", "mise_en_demeure_id": letter, "motif": "Matrice"}
    return await w.call(who, "POST", f"{C}/{cid}/resiliation", json=body)


async def _mettre_en_demeure(w: World, who: str, side: Side, ok: bool) -> int:
    body = {
        "date_envoi": "2026-02-02",
        "emetteur_id": str(side.coll),
        "destinataire_id": str(side.caf),
        "obligations": "Matrice",
    }
    return await w.call(who, "POST", f"{C}/{side.convention}/mises-en-demeure", json=body)


async def _lever(w: World, who: str, side: Side, ok: bool) -> int:
    letter = await w.new_mise_en_demeure(side) if ok else side.mise_en_demeure
    path = f"{C}/{side.convention}/mises-en-demeure/{letter}/levee"
    return await w.call(who, "POST", path, json={"motif": "Obligations remplies"})


async def _renouveler(w: World, who: str, side: Side, ok: bool) -> int:
    cid = side.convention
    if ok:
        # 002: the bilan final, adopted, comes first.
        cid = await w.new_convention(side)
        await w.new_bilan(side, adopted=True, convention=cid)
    return await w.call(who, "POST", f"{C}/{cid}/renouvellement")


async def _add_equipement(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"organisation_id": str(side.caf), "type": "RPE", "nom": "RPE de la matrice"}
    return await w.call(who, "POST", f"{C}/{side.preparation}/equipements", json=body)


async def _remove_equipement(w: World, who: str, side: Side, ok: bool) -> int:
    equipement = await w.new_equipement(side) if ok else side.equipement
    return await w.call(who, "DELETE", f"{C}/{side.preparation}/equipements/{equipement}")


async def _equipement_history(w: World, who: str, side: Side, ok: bool) -> int:
    path = f"{C}/{side.preparation}/equipements/{side.equipement}/historique"
    return await w.call(who, "GET", path)


async def _organisation_history(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", f"/api/v1/organisations/{side.coll}/historique")


async def _organisations(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", "/api/v1/organisations")


async def _organisation(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", f"/api/v1/organisations/{side.coll}")


async def _create_organisation(w: World, who: str, side: Side, ok: bool) -> int:
    body = {"type": "Autre", "nom": f"Association {who}", "departement": "38"}
    return await w.call(who, "POST", "/api/v1/organisations", json=body)


async def _patch_organisation(w: World, who: str, side: Side, ok: bool) -> int:
    path = f"/api/v1/organisations/{COLLECTIVITE_X}"
    etag = await w.etag("conventions", path)
    return await w.call(who, "PATCH", path, json={"population": 12000}, if_match=etag)


# One Caf per département: only Caf A's agents write Isère's registry (X is in Isère).
DIRECTORY_WRITE = _all(403, caf_a_agent=201)

ROWS: dict[tuple[str, str], list[Row]] = {
    ("GET", "/api/v1/organisations"): [("directory", "A", _organisations, everyone())],
    ("POST", "/api/v1/organisations"): [("directory", "A", _create_organisation, DIRECTORY_WRITE)],
    ("GET", "/api/v1/organisations/{organisation_id}"): [
        ("collectivité X", "A", _organisation, everyone()),
        ("collectivité Y", "B", _organisation, everyone()),
    ],
    ("PATCH", "/api/v1/organisations/{organisation_id}"): [
        (
            "collectivité X",
            "A",
            _patch_organisation,
            {**DIRECTORY_WRITE, "caf_a_agent": 200},
        )
    ],
    ("GET", "/api/v1/conventions"): [("list", "A", _list, everyone())],
    # Nothing exists yet to hide: another Caf's agent is refused with 403.
    ("POST", "/api/v1/conventions"): [
        ("for Caf A", "A", _create, _all(403, caf_a_agent=201)),
        ("for Caf B", "B", _create, _all(403, caf_b_agent=201)),
    ],
    ("GET", "/api/v1/conventions/{convention_id}"): both("get", get("{c}"), "reads"),
    ("PATCH", "/api/v1/conventions/{convention_id}"): both("patch", _patch, "caf_writes"),
    ("GET", "/api/v1/conventions/{convention_id}/signataires"): both(
        "signataires", get("{c}/signataires"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/signataires"): both(
        "add", _add_signataire, "caf_writes", 201
    ),
    ("PATCH", "/api/v1/conventions/{convention_id}/signataires/{organisation_id}"): both(
        "patch", _patch_signataire, "caf_writes"
    ),
    ("DELETE", "/api/v1/conventions/{convention_id}/signataires/{organisation_id}"): both(
        "remove", _remove_signataire, "caf_writes"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/equipements/{equipement_id}/historique"): both(
        "historique d'un équipement", _equipement_history, "reads"
    ),
    ("GET", "/api/v1/organisations/{organisation_id}/historique"): [
        ("collectivité X", "A", _organisation_history, everyone()),
    ],
    ("POST", "/api/v1/conventions/{convention_id}/signature"): both("sign", _sign, "caf_writes"),
    ("GET", "/api/v1/conventions/{convention_id}/avenants"): both(
        "avenants", get("{c}/avenants"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/avenants"): both(
        "avenant", _avenant, "caf_writes", 201
    ),
    ("GET", "/api/v1/conventions/{convention_id}/versions"): both(
        "versions", get("{c}/versions"), "reads"
    ),
    ("GET", "/api/v1/conventions/{convention_id}/versions/{numero}"): both(
        "version 1", get("{c}/versions/1"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/resiliation"): [
        # 003 art. 12: by the Caf only; by the party that sent the mise en demeure; by
        # any party (a referent for its own collectivité).
        *both("sans mise en demeure", _resilier("sans mise en demeure"), "caf_writes"),
        *both("avec mise en demeure", _resilier_apres_mise_en_demeure, "party_writes"),
        *both("dénonciation", _resilier("dénonciation"), "party_writes"),
    ],
    ("GET", "/api/v1/conventions/{convention_id}/mises-en-demeure"): both(
        "mises en demeure", get("{c}/mises-en-demeure"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/mises-en-demeure"): both(
        "mettre en demeure", _mettre_en_demeure, "party_writes", 201
    ),
    ("POST", "/api/v1/conventions/{convention_id}/mises-en-demeure/{mise_en_demeure_id}/levee"): (
        both("lever", _lever, "party_writes")
    ),
    ("POST", "/api/v1/conventions/{convention_id}/renouvellement"): both(
        "renouveler", _renouveler, "caf_writes", 201
    ),
    ("GET", "/api/v1/conventions/{convention_id}/equipements"): both(
        "equipements", get("{c}/equipements"), "reads"
    ),
    ("POST", "/api/v1/conventions/{convention_id}/equipements"): both(
        "add", _add_equipement, "caf_writes", 201
    ),
    ("DELETE", "/api/v1/conventions/{convention_id}/equipements/{equipement_id}"): both(
        "remove", _remove_equipement, "caf_writes", 204
    ),
    ("GET", "/api/v1/conventions/{convention_id}/schema-ao"): both(
        "schéma AO", get("{c}/schema-ao"), "reads"
    ),
}


@pytest.mark.parametrize("route", sorted(ROWS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_matrix(world: World, route: tuple[str, str]) -> None:
    failures = await run_rows(world, ROWS[route])
    assert not failures, "\n".join(failures)


async def test_a_referent_ends_the_convention_for_its_own_collectivite(world: World) -> None:
    """003 art. 12: "dénoncée par l'une ou l'autre des parties": through the gateway, the
    referent's habilitation on its collectivité makes it the party that denounces."""
    side = world.sides["A"]
    cid = await world.new_convention(side)
    headers = world.headers("x_referent")
    seen = await world.gateway.get(f"{C}/{cid}", headers=headers)
    assert seen.json()["transitions_disponibles"] == ["mettre en demeure", "résilier"]
    resp = await world.gateway.post(
        f"{C}/{cid}/resiliation",
        json={"mode": "dénonciation", "motif": "Fin de la compétence jeunesse"},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["resiliation"]["initiateur_id"] == str(COLLECTIVITE_X)
    assert resp.json()["resiliation"]["motif"] == "Fin de la compétence jeunesse"
