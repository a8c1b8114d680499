"""The world of the authorization matrix, built once per module.

The gateway (real habilitations in its schema, real access tokens signed by the dev
IdP's key store) in front of the three services, all in process, the services each
served on a loopback port: the gateway reaches them over real HTTP, through the
transport production uses (the notifications service too: its rows act on
notifications written straight to its schema). Two sides:

- side A: Caf A with collectivité X (conventions signed by both);
- side B: Caf B with collectivité Y.

Each side holds a signed convention with an axe, an action carried by the side's
collectivité, an indicator of that action and one of the convention, a suivi, a bilan
and a document, plus a convention still
en préparation (for the writes only allowed before signature) and a CTG of 2020-2024
recorded after the fact, échue (what an ended convention still accepts). Matrix requests go
through the gateway; the setup of fresh objects goes straight to the services with
internal tokens (faster, and not what is under test).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.ports import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from kernel.principal import OrganisationKind, Principal, Role
from services.actions.app import create_app as create_actions
from services.actions.settings import ActionsSettings
from services.documents.app import create_app as create_documents
from services.documents.settings import DocumentsSettings
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from tests.conftest import truncate_written_tables
from tests.gateway.habilitations.rig import HabRig
from tests.gateway.support import IDP_ISSUER, running_idp
from tests.support.apps import running
from tests.support.conventions import (
    SOCLE,
    conventions_app,
    sections_completes,
    seed_organisations,
)
from tests.support.personas import (
    CAF,
    CAF_A,
    CAF_B,
    CNAF,
    COLL,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    auth_headers,
    person,
)
from tests.support.served import served

# persona -> grant (None: anonymous). partner_x is a machine client.
PERSONAS: dict[str, tuple[uuid.UUID, OrganisationKind, Role] | None] = {
    "caf_a_agent": (CAF_A, CAF, Role.agent),
    "caf_a_lecteur": (CAF_A, CAF, Role.lecteur),
    "caf_b_agent": (CAF_B, CAF, Role.agent),
    "x_referent": (COLLECTIVITE_X, COLL, Role.referent),
    "x_contributeur": (COLLECTIVITE_X, COLL, Role.contributeur),
    "x_lecteur": (COLLECTIVITE_X, COLL, Role.lecteur),
    "y_contributeur": (COLLECTIVITE_Y, COLL, Role.contributeur),
    "national": (CNAF, OrganisationKind.national, Role.lecteur_national),
    "partner_x": (COLLECTIVITE_X, COLL, Role.contributeur),
    "anonymous": None,
}

# A quarter the signed conventions cover, already over (its suivis may be entered).
PERIODE = "2026-T3"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

Expected = dict[str, int]
NIL = uuid.UUID(int=0)  # filled by World.populate


def _all(default: int, **overrides: int) -> Expected:
    out = dict.fromkeys(PERSONAS, default)
    out["anonymous"] = 401
    out.update(overrides)
    return out


def everyone(status: int = 200) -> Expected:
    """Any authenticated caller (a directory, a list filtered to the caller's scope)."""
    return _all(status)


# Who may read / write what on a side (the matrix's vocabulary).
def reads(side: str, status: int = 200) -> Expected:
    if side == "A":
        return _all(
            404,
            caf_a_agent=status,
            caf_a_lecteur=status,
            x_referent=status,
            x_contributeur=status,
            x_lecteur=status,
            national=status,
            partner_x=status,
        )
    return _all(404, caf_b_agent=status, y_contributeur=status, national=status)


def caf_writes(side: str, status: int = 200) -> Expected:
    """Only the agents of the convention's Caf; the other readers get 403."""
    out = {p: (403 if s == 200 else s) for p, s in reads(side).items()}
    out["caf_a_agent" if side == "A" else "caf_b_agent"] = status
    return out


def party_writes(side: str, status: int = 200) -> Expected:
    """Art. 12's acts: the Caf's agents, and the referent of the side's collectivité
    acting for it."""
    out = caf_writes(side, status)
    if side == "A":
        out["x_referent"] = status
    return out


def porteur_writes(side: str, status: int = 200) -> Expected:
    """The Caf's agents and the write roles of the collectivité carrying the action."""
    out = caf_writes(side, status)
    writers = ("x_referent", "x_contributeur", "partner_x") if side == "A" else ("y_contributeur",)
    out.update(dict.fromkeys(writers, status))
    return out


def signataire_writes(side: str, status: int = 200) -> Expected:
    """The Caf's agents and the write roles of a signatory collectivité: those who
    conduct the evaluation (art. 9: bilans, indicators of the convention and its axes).
    Each side's collectivité signs its convention."""
    return porteur_writes(side, status)


def caf_after_the_end(side: str, status: int = 200) -> Expected:
    """On a convention that has ended: the Caf's agents only; the collectivités' write
    roles, whose engagements stopped (art. 12), get 409."""
    out = porteur_writes(side, 409)
    out["caf_a_agent" if side == "A" else "caf_b_agent"] = status
    return out


def adopters(side: str, status: int = 200) -> Expected:
    """Who enters a bilan's adoption by the COPIL: the Caf's agents and the referents of
    a signatory collectivité."""
    out = caf_writes(side, status)
    if side == "A":
        out["x_referent"] = status
    return out


RULES: dict[str, Callable[[str, int], Expected]] = {
    "reads": reads,
    "caf_writes": caf_writes,
    "porteur_writes": porteur_writes,
    "signataire_writes": signataire_writes,
    "adopters": adopters,
    "caf_after_the_end": caf_after_the_end,
    "party_writes": party_writes,
}


@dataclass
class Side:
    name: str
    caf: uuid.UUID
    coll: uuid.UUID
    convention: uuid.UUID = NIL  # signed, running
    preparation: uuid.UUID = NIL  # en préparation
    equipement: str = ""  # on `preparation`
    axe: str = ""
    action: str = ""
    indicateur: str = ""
    indicateur_convention: str = ""  # of the convention as a whole, with a PERIODE value
    bilan: str = ""
    document: str = ""
    mise_en_demeure: str = ""  # on `convention`, sent by `coll`, pending
    echue: uuid.UUID = NIL  # a CTG of 2020-2024 recorded after the fact: échue

    @property
    def agent(self) -> Principal:
        return person(f"setup-agent-{self.name}", (self.caf, CAF, Role.agent))

    @property
    def contributeur(self) -> Principal:
        return person(f"setup-contrib-{self.name}", (self.coll, COLL, Role.contributeur))


@dataclass
class World:
    gateway: httpx.AsyncClient
    conventions: httpx.AsyncClient  # direct, for setup
    actions: httpx.AsyncClient
    documents: httpx.AsyncClient
    hab: HabRig
    sides: dict[str, Side]
    gateway_app: FastAPI
    service_urls: dict[str, str]  # where the gateway reaches each service
    _tokens: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    # The apps in process, by name (a test may catch a replica up, as `coop worker` does).
    apps: dict[str, Any] = field(default_factory=dict)

    def headers(self, persona: str) -> dict[str, str]:
        if persona == "anonymous":
            return {}
        cached = self._tokens.get(persona)
        if cached is None or cached[0] < time.monotonic():
            # Access tokens live 300 s: sign again well before.
            headers = self.hab.headers(persona, client=persona == "partner_x")
            cached = (time.monotonic() + 120, headers)
            self._tokens[persona] = cached
        return cached[1]

    async def call(
        self, persona: str, method: str, path: str, *, if_match: str | None = None, **kw: Any
    ) -> int:
        """One request through the gateway as `persona`; its status."""
        headers = {**self.headers(persona), **kw.pop("headers", {})}
        if if_match is not None:
            headers["if-match"] = if_match
        resp = await self.gateway.request(method, path, headers=headers, **kw)
        return resp.status_code

    # -- setup, straight to the services ---------------------------------------------------

    @staticmethod
    def _ok(resp: httpx.Response) -> httpx.Response:
        if resp.status_code >= 400:
            raise AssertionError(
                f"setup {resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
            )
        return resp

    async def direct(
        self,
        service: str,
        who: Principal,
        method: str,
        path: str,
        *,
        if_match: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        client = getattr(self, service)
        headers = {**auth_headers(who, service), **kw.pop("headers", {})}
        if if_match is not None:
            headers["if-match"] = if_match
        return self._ok(await client.request(method, path, headers=headers, **kw))

    async def etag(self, service: str, path: str) -> str:
        """The current ETag of a resource (read as the national reader)."""
        etag = await self.etag_if_any(service, path)
        assert etag is not None, f"{path} carries no ETag"
        return etag

    async def etag_if_any(self, service: str, path: str) -> str | None:
        """The ETag a resource's read carries, if it carries one."""
        national = person(
            "setup-national", (CNAF, OrganisationKind.national, Role.lecteur_national)
        )
        resp = await self.direct(service, national, "GET", path)
        return resp.headers.get("etag")

    async def new_convention(
        self, side: Side, *, signee: bool = True, with_coll: bool = True, dates: bool = True
    ) -> uuid.UUID:
        signature = "2025-01-01" if dates else None
        orgs = (side.caf, side.coll) if with_coll else (side.caf,)
        body = {
            "caf_id": str(side.caf),
            "echelon": "commune",
            "titre": f"CTG {side.name} {uuid.uuid4().hex[:6]}",
            "date_debut": "2025-01-01",
            "date_fin": "2029-12-31",
            "thematiques": SOCLE,
            "signataires": [
                {"organisation_id": str(o), "representant": "Rep", "date_signature": signature}
                for o in orgs
            ],
        }
        created = await self.direct(
            "conventions", side.agent, "POST", "/api/v1/conventions", json=body
        )
        cid = uuid.UUID(created.json()["id"])
        if signee:
            await self.direct(
                "conventions", side.agent, "POST", f"/api/v1/conventions/{cid}/signature"
            )
        return cid

    async def new_ctg_echue(self, side: Side) -> uuid.UUID:
        """A CTG signed in 2020, before the product and the 2026 model (no socle of
        thématiques), recorded by the Caf (`ctg_existante`) once it had ended."""
        body = {
            "caf_id": str(side.caf),
            "echelon": "commune",
            "titre": f"CTG {side.name} 2020-2024",
            "date_debut": "2020-01-01",
            "date_fin": "2024-12-31",
            "thematiques": ["enfance", "jeunesse"],
            "signataires": [
                {"organisation_id": str(o), "representant": "Rep", "date_signature": "2020-02-03"}
                for o in (side.caf, side.coll)
            ],
        }
        created = await self.direct(
            "conventions", side.agent, "POST", "/api/v1/conventions", json=body
        )
        cid = uuid.UUID(created.json()["id"])
        await self.direct(
            "conventions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{cid}/signature",
            json={"ctg_existante": True},
        )
        return cid

    async def new_axe(self, side: Side, convention: uuid.UUID | None = None) -> str:
        cid = convention or side.convention
        resp = await self.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{cid}/axes",
            json={"titre": f"Agir {uuid.uuid4().hex[:6]}"},
        )
        return str(resp.json()["id"])

    async def new_action(self, side: Side, axe: str | None = None) -> str:
        resp = await self.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{side.convention}/actions",
            json={
                "axe_id": axe or side.axe,
                "titre": "Créer un RPE",
                "porteur_ids": [str(side.coll)],
            },
        )
        return str(resp.json()["id"])

    async def new_indicateur(self, side: Side, action: str | None = None) -> str:
        resp = await self.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/actions/{action or side.action}/indicateurs",
            json={"libelle": "Places créées", "nature": "réalisation", "unite": "places"},
        )
        return str(resp.json()["id"])

    async def new_indicateur_convention(self, side: Side) -> str:
        resp = await self.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{side.convention}/indicateurs",
            json={
                "libelle": "Taux de couverture",
                "nature": "changement territorial",
                "unite": "%",
            },
        )
        return str(resp.json()["id"])

    async def new_suivi(self, side: Side, state: str = "brouillon") -> str:
        """A fresh action with a suivi of PERIODE in `state`; returns the action id."""
        action = await self.new_action(side)
        base = f"/api/v1/actions/{action}/suivis"
        await self.direct(
            "actions",
            side.contributeur,
            "POST",
            base,
            json={"periode": PERIODE, "statut_action": "en cours"},
        )
        path = f"{base}/{PERIODE}"
        steps = {"brouillon": [], "soumis": ["soumission"], "validé": ["soumission", "validation"]}
        for step in steps[state]:
            who = side.agent if step == "validation" else side.contributeur
            await self.direct(
                "actions",
                who,
                "POST",
                f"{path}/{step}",
                json={},
                if_match=await self.etag("actions", path),
            )
        return action

    async def new_bilan(
        self, side: Side, *, adopted: bool = False, convention: uuid.UUID | None = None
    ) -> str:
        resp = await self.direct(
            "actions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{convention or side.convention}/bilans",
            json={
                "type": "bilan final",
                "periode_debut": "2025-01-01",
                "periode_fin": "2029-12-31",
                "sections": sections_completes("bilan final"),
            },
        )
        bilan = str(resp.json()["id"])
        if adopted:
            path = f"/api/v1/bilans/{bilan}"
            await self.direct(
                "actions",
                side.agent,
                "POST",
                f"{path}/adoption",
                json={"date_adoption": "2026-11-01"},
                if_match=await self.etag("actions", path),
            )
        return bilan

    async def new_document(self, side: Side) -> str:
        resp = await self.direct(
            "documents",
            side.contributeur,
            "POST",
            "/api/v1/documents",
            data={"convention_id": str(side.convention), "type": "Autre", "titre": "Compte rendu"},
            files={"fichier": ("cr.pdf", PDF, "application/pdf")},
        )
        return str(resp.json()["id"])

    async def new_equipement(self, side: Side) -> str:
        resp = await self.direct(
            "conventions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{side.preparation}/equipements",
            json={"organisation_id": str(side.caf), "type": "RPE", "nom": "RPE"},
        )
        return str(resp.json()["id"])

    async def new_mise_en_demeure(self, side: Side, convention: uuid.UUID | None = None) -> str:
        """A pending mise en demeure sent by the side's collectivité to its Caf, over a
        month ago (a résiliation may follow it)."""
        resp = await self.direct(
            "conventions",
            side.agent,
            "POST",
            f"/api/v1/conventions/{convention or side.convention}/mises-en-demeure",
            json={
                "date_envoi": "2026-01-05",
                "emetteur_id": str(side.coll),
                "destinataire_id": str(side.caf),
                "obligations": "Réunir le COPIL annuel.",
            },
        )
        return str(resp.json()["id"])

    async def populate(self, side: Side) -> None:
        side.convention = await self.new_convention(side)
        side.preparation = await self.new_convention(side, signee=False)
        side.equipement = await self.new_equipement(side)
        side.axe = await self.new_axe(side)
        side.action = await self.new_suivi(side)
        side.indicateur = await self.new_indicateur(side)
        await self.direct(
            "actions",
            side.agent,
            "PUT",
            f"/api/v1/actions/{side.action}/indicateurs/{side.indicateur}/valeurs/{PERIODE}",
            json={"valeur": 2},
        )
        side.indicateur_convention = await self.new_indicateur_convention(side)
        await self.direct(
            "actions",
            side.agent,
            "PUT",
            f"/api/v1/conventions/{side.convention}/indicateurs/{side.indicateur_convention}"
            f"/valeurs/{PERIODE}",
            json={"valeur": 40},
        )
        side.bilan = await self.new_bilan(side)
        side.document = await self.new_document(side)
        side.mise_en_demeure = await self.new_mise_en_demeure(side)
        side.echue = await self.new_ctg_echue(side)


# A matrix call: (world, persona, side, ok) -> status; `ok` says the persona is expected
# to succeed, so the call gives it a fresh object to consume when the write destroys one.
Call = Callable[[World, str, Side, bool], Awaitable[int]]
# (label, side name, call, expected status per persona)
Row = tuple[str, str, Call, Expected]


def both(label: str, call: Call, rule: str, status: int = 200) -> list[Row]:
    """The same call on side A's object and on side B's."""
    return [(f"{label} {name}", name, call, RULES[rule](name, status)) for name in ("A", "B")]


async def run_rows(world: World, rows: list[Row]) -> list[str]:
    failures = []
    for label, side_name, call, expected in rows:
        side = world.sides[side_name]
        for persona, status in expected.items():
            got = await call(world, persona, side, status < 300)
            if got != status:
                failures.append(f"{label} / {persona}: expected {status}, got {got}")
    return failures


@asynccontextmanager
async def build_world(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine
) -> AsyncIterator[World]:
    await seed_organisations(database_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(truncate_written_tables, database_url)
        idp_app, idp_transport = await stack.enter_async_context(running_idp(tmp_path / "idp"))
        # Each service served on a loopback port: the gateway reaches them (and they
        # reach one another: conventions asks actions for bilans) over HTTP, through
        # the production transport.
        actions_port = free_port()
        # Served too: the actions service asks it who reads a convention (mentions).
        gateway_port = free_port()
        conv_app = conventions_app(database_url, actions_url=f"http://127.0.0.1:{actions_port}")
        conventions = await stack.enter_async_context(running(conv_app))
        conv_url = await stack.enter_async_context(served(conv_app))
        act_app = create_actions(
            ActionsSettings(
                database_url=database_url,
                conventions_url=conv_url,
                gateway_url=f"http://127.0.0.1:{gateway_port}",
                conventions_sync_seconds=3600,
            )
        )
        actions = await stack.enter_async_context(running(act_app))
        act_url = await stack.enter_async_context(served(act_app, actions_port))
        doc_app = create_documents(
            DocumentsSettings(
                database_url=database_url,
                conventions_url=conv_url,
                storage_root=str(tmp_path / "storage"),
                antivirus=False,
                conventions_sync_seconds=3600,
            )
        )
        documents = await stack.enter_async_context(running(doc_app))
        doc_url = await stack.enter_async_context(served(doc_app))
        notif_app = create_notifications(NotificationsSettings(database_url=database_url))
        await stack.enter_async_context(running(notif_app))
        notif_url = await stack.enter_async_context(served(notif_app))
        settings = GatewaySettings(
            database_url=database_url,
            oidc_issuer=IDP_ISSUER,
            service_urls={
                "conventions": conv_url,
                "actions": act_url,
                "documents": doc_url,
                "notifications": notif_url,
            },
            rate_limit_enabled=False,
            grant_expiry_sweep_seconds=3600,
            conventions_sync_seconds=3600,
        )
        gw_app = create_gateway(settings, oidc_transport=idp_transport)
        gateway = await stack.enter_async_context(running(gw_app))
        await stack.enter_async_context(served(gw_app, gateway_port))
        hab = HabRig(
            gateway,
            idp_app.state.key_store,
            gw_app.state.grant_resolver,
            gw_app.state.sessionmaker,
            gw_app.state.access_journal,
            gw_app,
        )
        for persona, grant in PERSONAS.items():
            if grant is None:
                continue
            if persona == "partner_x":
                await hab.client_grant(persona, *grant)
            else:
                await hab.grant(persona, *grant)
        world = World(
            gateway,
            conventions,
            actions,
            documents,
            hab,
            {"A": Side("A", CAF_A, COLLECTIVITE_X), "B": Side("B", CAF_B, COLLECTIVITE_Y)},
            gw_app,
            settings.service_urls,
        )
        world.apps.update(
            conventions=conv_app,
            actions=act_app,
            documents=doc_app,
            notifications=notif_app,
            gateway=gw_app,
        )
        for side in world.sides.values():
            await world.populate(side)
        yield world
