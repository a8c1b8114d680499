"""Demo habilitations: the dev IdP personas' persons and grants, the demo machine clients.

Persons are keyed like the identity provider will present them: issuer = the dev
IdP's default issuer, `sub` = demo_id("person:<name>"), e-mail <name>@demo.coop.invalid.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from coop import demo_ids
from gateway.devidp.settings import DevIdpSettings
from gateway.habilitations import repository as repo
from gateway.habilitations import service, service_clients
from kernel.principal import OrganisationKind, Role

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite

PERSON_GRANTS: tuple[tuple[str, uuid.UUID, OrganisationKind, Role], ...] = (
    ("caf-agent", demo_ids.CAF_ISERE, CAF, Role.agent),
    ("caf-lecteur", demo_ids.CAF_ISERE, CAF, Role.lecteur),
    ("caf-admin", demo_ids.CAF_ISERE, CAF, Role.administrateur),
    ("autre-caf-agent", demo_ids.CAF_DROME, CAF, Role.agent),
    ("collectivite-referent", demo_ids.VOIRON, COLL, Role.referent),
    ("collectivite-contributeur", demo_ids.VOIRON, COLL, Role.contributeur),
    ("collectivite-lecteur", demo_ids.VOIRON, COLL, Role.lecteur),
    ("autre-collectivite", demo_ids.VALENCE, COLL, Role.contributeur),
    ("national", demo_ids.CNAF, OrganisationKind.national, Role.lecteur_national),
)
CLIENTS: tuple[tuple[str, str, uuid.UUID, OrganisationKind, Role], ...] = (
    ("partenaire", "Système d'information de Voiron", demo_ids.VOIRON, COLL, Role.contributeur),
    ("back-office", "Back-office de la Caf de l'Isère", demo_ids.CAF_ISERE, CAF, Role.agent),
)
DEMO_ACTOR = service.Actor(None, "démo")


def dev_issuer() -> str:
    return DevIdpSettings().issuer_url


async def demo_step(session: AsyncSession) -> str:
    issuer = dev_issuer()
    added = 0
    for name, org, kind, role in PERSON_GRANTS:
        person = await repo.get_or_add_person(
            session,
            issuer,
            str(demo_ids.demo_id(f"person:{name}")),
            email=f"{name}@demo.coop.invalid",
            name=name,
            id_=demo_ids.demo_id(f"gateway-person:{name}"),
        )
        if await repo.current_grant_of(session, org, person_id=person.id) is None:
            await service.create_grant(
                session,
                organisation_id=org,
                kind=kind,
                role=role,
                actor=DEMO_ACTOR,
                person_id=person.id,
                reason="données de démonstration",
            )
            added += 1
    for client_id, nom, org, kind, role in CLIENTS:
        if await repo.client_by_client_id(session, client_id) is None:
            await service_clients.register_client(
                session,
                client_id=client_id,
                nom=nom,
                organisation_id=org,
                kind=kind,
                role=role,
                actor=DEMO_ACTOR,
                default_days=365,
            )
            added += 1
    return f"{len(PERSON_GRANTS)} personnes, {len(CLIENTS)} clients machine ({added} ajouts)"
