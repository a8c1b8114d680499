"""The product walked end to end, as its users would: real processes, real HTTP, gateway only.

Every app runs as its own `coop serve` process (granian) on a free loopback port, on the
test PostgreSQL. The operator bootstraps with the real CLI (organisations import, the
first habilitations); from then on every call goes through the gateway with access
tokens from the development identity provider.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coop.stack import Stack
from gateway.devidp.personas import PERSONAS
from tests.support.suite import (
    client_token,
    coop,
    grant,
    import_organisations,
    persona_token,
)

TODAY = dt.datetime.now(dt.UTC).date()
QUARTER = f"{TODAY.year}-T{(TODAY.month - 1) // 3 + 1}"
SOCLE = ["petite enfance", "enfance", "jeunesse", "parentalité"]


class User:
    """One persona talking to the gateway with its own access token."""

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self.headers = {"authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int | None = 200, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        resp = self.http.request(method, path, headers=headers, **kw)
        if expect is not None:
            assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp

    def get(self, path: str, expect: int | None = 200, **kw: Any) -> Any:
        return self.call("GET", path, expect, **kw).json()

    def post(self, path: str, expect: int | None = 200, **kw: Any) -> httpx.Response:
        return self.call("POST", path, expect, **kw)


def organisation_id(user: User, query: str) -> str:
    items = user.get("/api/v1/organisations", params={"q": query})["items"]
    assert len(items) == 1, items
    return str(items[0]["id"])


def create_signed_convention(agent: User, caf: str, commune: str, titre: str) -> str:
    start = dt.date(TODAY.year, 1, 1)
    body = {
        "caf_id": caf,
        "echelon": "commune",
        "titre": titre,
        "date_debut": start.isoformat(),
        "date_fin": dt.date(TODAY.year + 4, 12, 31).isoformat(),
        "thematiques": SOCLE,
        "signataires": [
            {
                "organisation_id": org,
                "representant": "Le maire",
                "date_signature": start.isoformat(),
            }
            for org in (caf, commune)
        ],
    }
    created = agent.post("/api/v1/conventions", 201, json=body).json()
    signed = agent.post(
        f"/api/v1/conventions/{created['id']}/signature",
        headers={
            "if-match": agent.call("GET", f"/api/v1/conventions/{created['id']}").headers["etag"]
        },
    ).json()
    assert signed["statut"] == "signée"
    return str(created["id"])


def invite_and_accept(
    inviter: User, invitee: User, email: str, organisation: str, role: str
) -> None:
    invitation = inviter.post(
        "/api/v1/invitations",
        201,
        json={"email": email, "organisation_id": organisation, "role": role},
    ).json()
    accepted = invitee.post(
        "/api/v1/invitations/acceptation", 201, json={"jeton": invitation["jeton"]}
    ).json()
    assert (accepted["organisation_id"], accepted["role"]) == (organisation, role)


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url("gateway"), timeout=30) as client:
        yield client


@pytest.mark.slow
def test_a_ctg_from_signature_to_validated_suivis(
    stack: Stack, gateway: httpx.Client, tmp_path: Path
) -> None:
    users = {name: User(gateway, persona_token(stack, name)) for name in PERSONAS}
    agent, national = users["caf-agent"], users["national"]
    referent, contributeur = users["collectivite-referent"], users["collectivite-contributeur"]
    other_caf, other_collectivite = users["autre-caf-agent"], users["autre-collectivite"]

    # Before anything is granted, nobody gets in (authenticated, but no habilitation).
    assert agent.get("/api/v1/conventions")["items"] == []
    refused = gateway.get("/api/v1/conventions")
    assert refused.status_code == 401
    # Over the real socket: the security headers, and a server banner naming no software.
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["server"] == "coop"
    assert agent.call("GET", "/api/v1/conventions").headers.get_list("server") == ["coop"]

    # The operator loads the registry and the first habilitations with the real CLI.
    coop_ids = import_organisations(tmp_path)
    caf_isere, caf_drome = coop_ids["Caf de l'Isère"], coop_ids["Caf de la Drôme"]
    grant(stack, "caf-agent", caf_isere, "caf", "agent")
    grant(stack, "autre-caf-agent", caf_drome, "caf", "agent")
    grant(stack, "national", coop_ids["Cnaf"], "national", "lecteur_national")

    voiron = organisation_id(agent, "38563")
    valence = organisation_id(other_caf, "26362")

    # The Caf agent creates and signs Voiron's CTG, and writes its plan d'actions.
    convention = create_signed_convention(agent, caf_isere, voiron, "CTG de Voiron")
    axe = agent.post(
        f"/api/v1/conventions/{convention}/axes",
        201,
        json={"titre": "Répondre aux besoins d'accueil diversifiés des jeunes enfants"},
    ).json()
    assert axe["avertissements"] == []
    actions = [
        agent.post(
            f"/api/v1/conventions/{convention}/actions",
            201,
            json={
                "axe_id": axe["id"],
                "titre": titre,
                "porteur_ids": [voiron],
                "thematique": "petite enfance",
                "date_debut": f"{TODAY.year}-01-01",
                "date_echeance": f"{TODAY.year + 1}-06-30",
            },
        ).json()["id"]
        for titre in ("Ouvrir une micro-crèche", "Créer un relais petite enfance")
    ]

    # The other Drôme CTG, so the other collectivité has a life of its own.
    other_convention = create_signed_convention(other_caf, caf_drome, valence, "CTG de Valence")
    invite_and_accept(
        other_caf, other_collectivite, PERSONAS["autre-collectivite"].email, valence, "contributeur"
    )

    # The agent invites Voiron's referent, who accepts and invites a contributeur.
    referent.call("GET", f"/api/v1/conventions/{convention}", expect=404)
    invite_and_accept(agent, referent, PERSONAS["collectivite-referent"].email, voiron, "referent")
    assert referent.get(f"/api/v1/conventions/{convention}")["titre"] == "CTG de Voiron"
    invite_and_accept(
        referent, contributeur, PERSONAS["collectivite-contributeur"].email, voiron, "contributeur"
    )
    moi = contributeur.get("/api/v1/moi")
    assert [(g["organisation_id"], g["role"]) for g in moi["habilitations"]] == [
        (voiron, "contributeur")
    ]

    # The contributeur sees its work for the quarter, fills both suivis and submits them.
    todo = contributeur.get("/api/v1/moi/actions-a-renseigner")["items"]
    assert {item["action_id"] for item in todo} >= set(actions)
    for index, action in enumerate(actions):
        created = contributeur.post(
            f"/api/v1/actions/{action}/suivis",
            201,
            json={
                "periode": QUARTER,
                "statut_action": "en cours",
                "avancement": 40 + index * 20,
                "realisations": "Étude de besoins terminée, local identifié.",
                "difficultes": "Recrutement d'auxiliaires difficile." if index else None,
                "alerte": bool(index),
                "alerte_message": "Recrutement bloqué, arbitrage du COPIL demandé."
                if index
                else None,
            },
        )
        contributeur.post(
            f"/api/v1/actions/{action}/suivis/{QUARTER}/soumission",
            headers={"if-match": created.headers["etag"]},
        )

    # From the app, the contributeur records the places opened this quarter, then
    # corrects the figure: a replacement sends the ETag it read, a stale copy gets 412.
    indicateur = contributeur.post(
        f"/api/v1/actions/{actions[0]}/indicateurs",
        201,
        json={"libelle": "Places créées", "nature": "réalisation", "unite": "places"},
    ).json()["id"]
    valeur = f"/api/v1/actions/{actions[0]}/indicateurs/{indicateur}/valeurs/{QUARTER}"
    first = contributeur.call(
        "PUT", valeur, 201, json={"valeur": 10}, headers={"if-none-match": "*"}
    )
    contributeur.call("PUT", valeur, 428, json={"valeur": 12})
    read = contributeur.call("GET", valeur).headers["etag"]
    assert read == first.headers["etag"]
    contributeur.call("PUT", valeur, 200, json={"valeur": 12}, headers={"if-match": read})
    contributeur.call("PUT", valeur, 412, json={"valeur": 13}, headers={"if-match": read})
    assert float(contributeur.get(valeur)["valeur"]) == 12.0

    # …and shares the COPIL minutes with the Caf.
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    uploaded = contributeur.post(
        "/api/v1/documents",
        201,
        data={
            "convention_id": convention,
            "type": "Compte rendu de COPIL",
            "titre": "COPIL de juin",
        },
        files={"fichier": ("copil-juin.pdf", pdf, "application/pdf")},
    ).json()
    document = uploaded["id"]
    assert agent.call("GET", f"/api/v1/documents/{document}/contenu").content == pdf

    # The agent validates one suivi and sends the other back.
    def etag(action: str) -> str:
        return agent.call("GET", f"/api/v1/actions/{action}/suivis/{QUARTER}").headers["etag"]

    validated = agent.post(
        f"/api/v1/actions/{actions[0]}/suivis/{QUARTER}/validation",
        json={"commentaire": "Merci, c'est clair."},
        headers={"if-match": etag(actions[0])},
    ).json()
    assert validated["etat"] == "validé"
    sent_back = agent.post(
        f"/api/v1/actions/{actions[1]}/suivis/{QUARTER}/renvoi",
        json={"commentaire": "Précisez le nombre de postes vacants."},
        headers={"if-match": etag(actions[1])},
    ).json()
    assert sent_back["etat"] == "à compléter"
    # A validated suivi cannot be edited any more.
    refused = contributeur.call(
        "PATCH",
        f"/api/v1/actions/{actions[0]}/suivis/{QUARTER}",
        expect=None,
        json={"avancement": 90},
        headers={"if-match": etag(actions[0])},
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"

    # The national reader sees the campaign's aggregates, across Cafs.
    campagne = national.get(f"/api/v1/campagnes/{QUARTER}")
    assert campagne["total"]["validé"] >= 1
    assert campagne["total"]["à compléter"] >= 1

    # The other Caf and the other collectivité see none of it.
    for outsider in (other_caf, other_collectivite):
        assert (
            outsider.call("GET", f"/api/v1/conventions/{convention}", expect=None).status_code
            == 404
        )
        listed = outsider.get("/api/v1/conventions")["items"]
        assert convention not in {c["id"] for c in listed}
        assert other_convention in {c["id"] for c in listed}
        assert outsider.call("GET", f"/api/v1/documents/{document}", expect=None).status_code == 404
        assert outsider.call("GET", f"/api/v1/actions/{actions[0]}", expect=None).status_code == 404

    # The partner's system, a machine client of Voiron, reads the plan it contributes to.
    coop(
        "clients",
        "add",
        "partenaire",
        "--organisation",
        voiron,
        "--kind",
        "collectivite",
        "--role",
        "contributeur",
    )
    partner = User(gateway, client_token(stack, "partenaire", "partenaire-dev-secret"))
    plan = partner.get(f"/api/v1/conventions/{convention}/actions")["items"]
    assert {a["id"] for a in plan} == set(actions)
