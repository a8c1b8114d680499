"""The gateway with its real habilitations (database grants) and the real actions
service behind it over loopback HTTP (the production transport), a real dev IdP in
process; conventions known through the replicas."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.app import create_app
from gateway.devidp.keys import KeyStore
from gateway.habilitations import repository as repo
from gateway.habilitations import service, service_clients
from gateway.habilitations.models import convention_ref as gateway_refs
from gateway.habilitations.resolver import DbGrantResolver
from gateway.journal import AccessJournal
from gateway.settings import GatewaySettings
from kernel.convention_ref import ConventionRef, StatutConvention, upsert_refs
from kernel.database import create_sessionmaker
from kernel.principal import OrganisationKind, Role
from services.actions.app import create_app as create_actions_app
from services.actions.models import convention_ref as actions_refs
from services.actions.settings import ActionsSettings
from tests.gateway.support import IDP_ISSUER, client_token, person_token, running_idp
from tests.support.apps import running
from tests.support.personas import CAF_A, CAF_B, COLLECTIVITE_X, COLLECTIVITE_Y, stable_id
from tests.support.served import served

# Nothing listens there: the replicas are fed by the tests, never by the network.
UNREACHABLE = "http://127.0.0.1:9"
CONVENTION_A = stable_id("convention-a")  # Caf A with collectivité X
CONVENTION_B = stable_id("convention-b")  # Caf B with collectivité Y
# What the conventions service's feed names them (the replica's `noms`).
NOMS = {
    CAF_A: "Caf A (test)",
    CAF_B: "Caf B (test)",
    COLLECTIVITE_X: "Collectivité X (test)",
    COLLECTIVITE_Y: "Collectivité Y (test)",
}


def _signed(
    id_: uuid.UUID, caf: uuid.UUID, collectivite: uuid.UUID, titre: str, seq: int
) -> ConventionRef:
    """A convention signed 100 days ago by the Caf and one collectivité."""
    today = dt.datetime.now(dt.UTC).date()
    return ConventionRef(
        id=id_,
        caf_id=caf,
        titre=titre,
        echelon="commune",
        statut=StatutConvention.signee,
        date_debut=today - dt.timedelta(days=100),
        date_fin=today + dt.timedelta(days=900),
        signataire_ids=(caf, collectivite),
        seq=seq,
        noms={o: NOMS[o] for o in (caf, collectivite)},
    )


def refs() -> list[ConventionRef]:
    return [
        _signed(CONVENTION_A, CAF_A, COLLECTIVITE_X, "CTG de X", 1),
        _signed(CONVENTION_B, CAF_B, COLLECTIVITE_Y, "CTG de Y", 2),
    ]


class HabRig:
    def __init__(
        self,
        client: httpx.AsyncClient,
        store: KeyStore,
        resolver: DbGrantResolver,
        sessionmaker: async_sessionmaker[Any],
        journal: AccessJournal,
        app: FastAPI,
    ) -> None:
        # `client` reaches the app in process; `served(app)` serves it over loopback.
        self.app = app
        self.client = client
        self.store = store
        self.resolver = resolver
        self.sessionmaker = sessionmaker
        self.journal = journal

    def token(self, name: str, *, email: str | None = None, client: bool = False) -> str:
        """The development provider's shapes: persons through the mobile app (RFC 9068,
        with its `client_id`), clients as Keycloak's service accounts (a UUID `sub`)."""
        if client:
            return client_token(self.store, name)
        return person_token(
            self.store, self.subject(name), email or f"{name}@test.invalid", name.title()
        )

    def headers(self, name: str, **kwargs: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(name, **kwargs)}"}

    @staticmethod
    def subject(name: str) -> str:
        return f"sub-{name}"

    async def person_id(self, name: str) -> uuid.UUID:
        """The gateway-local id of a person (created as if they had logged in)."""
        async with self.sessionmaker() as session:
            person = await repo.get_or_add_person(
                session,
                IDP_ISSUER,
                self.subject(name),
                email=f"{name}@test.invalid",
                name=name.title(),
            )
            await session.commit()
            return person.id

    async def grant(
        self,
        name: str,
        organisation: uuid.UUID,
        kind: OrganisationKind,
        role: Role,
        *,
        valid_until: dt.datetime | None = None,
    ) -> uuid.UUID:
        """A grant written as the CLI would (no rights check)."""
        person_id = await self.person_id(name)
        async with self.sessionmaker() as session:
            created = await service.create_grant(
                session,
                organisation_id=organisation,
                kind=kind,
                role=role,
                actor=service.Actor(None, service.CLI_ACTOR),
                person_id=person_id,
                valid_until=valid_until,
                resolver=self.resolver,
            )
            await session.commit()
            return created.id

    async def client_grant(
        self, client_id: str, organisation: uuid.UUID, kind: OrganisationKind, role: Role
    ) -> uuid.UUID:
        async with self.sessionmaker() as session:
            _, created = await service_clients.register_client(
                session,
                client_id=client_id,
                nom=client_id,
                organisation_id=organisation,
                kind=kind,
                role=role,
                actor=service.Actor(None, service.CLI_ACTOR),
                default_days=365,
                resolver=self.resolver,
            )
            await session.commit()
            return created.id


async def revoke(hab: HabRig, grant_id: uuid.UUID, by: str) -> None:
    path = f"/api/v1/habilitations/{grant_id}"
    etag = (await hab.client.get(path, headers=hab.headers(by))).headers["etag"]
    revoked = await hab.client.post(
        path + "/revocation",
        json={"motif": "A quitté la mairie"},
        headers={**hab.headers(by), "if-match": etag},
    )
    assert revoked.status_code == 200, revoked.text


async def seed_refs(engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        await upsert_refs(session, gateway_refs, refs())
        await upsert_refs(session, actions_refs, refs())
        await session.commit()


@asynccontextmanager
async def actions_served(database_url: str, gateway_url: str = UNREACHABLE) -> AsyncIterator[str]:
    """The real actions service on a loopback port (its base URL): served once and
    shared by the rigs, which reach it over HTTP as production does (`gateway_url`:
    where it asks who reads a convention, for mentions)."""
    actions = create_actions_app(
        ActionsSettings(
            database_url=database_url, conventions_url=UNREACHABLE, gateway_url=gateway_url
        )
    )
    async with actions.router.lifespan_context(actions), served(actions) as url:
        yield url


@asynccontextmanager
async def habilitations_rig(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine, actions_url: str, **overrides: Any
) -> AsyncIterator[HabRig]:
    await seed_refs(db_engine)
    async with AsyncExitStack() as stack:
        idp_app, idp_transport = await stack.enter_async_context(running_idp(tmp_path))
        values: dict[str, Any] = {
            "database_url": database_url,
            "oidc_issuer": IDP_ISSUER,
            "service_urls": {
                "conventions": UNREACHABLE,
                "actions": actions_url,
                "documents": UNREACHABLE,
            },
            "rate_limit_enabled": False,
            "grant_expiry_sweep_seconds": 3600,
            # The tests write the access journal themselves (`journal.flush()`).
            "access_journal_flush_seconds": 60,
        }
        values.update(overrides)
        app = create_app(GatewaySettings(**values), oidc_transport=idp_transport)
        client = await stack.enter_async_context(running(app))
        yield HabRig(
            client,
            idp_app.state.key_store,
            app.state.grant_resolver,
            app.state.sessionmaker,
            app.state.access_journal,
            app,
        )
