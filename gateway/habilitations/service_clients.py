"""Machine clients: a partner's or a Caf's system, registered with its one grant (the
CLI registers any; through the API, a Caf administrateur for its Caf or the
collectivités of its conventions)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.habilitations import repository as repo
from gateway.habilitations.models import Client, Habilitation
from gateway.habilitations.resolver import DbGrantResolver
from gateway.habilitations.service import (
    CAF_ROLES,
    COLLECTIVITE_ROLES,
    Actor,
    Authority,
    actor_of,
    create_grant,
)
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.principal import OrganisationKind, Role


async def register_client(
    session: AsyncSession,
    *,
    client_id: str,
    nom: str,
    organisation_id: uuid.UUID,
    kind: OrganisationKind,
    role: Role,
    actor: Actor,
    default_days: int,
    auth: Authority | None = None,
    resolver: DbGrantResolver | None = None,
) -> tuple[Client, Habilitation]:
    """Register a client and grant it its role (`auth` None: the CLI, no rights check)."""
    if auth is not None:
        if not auth.knows(organisation_id, kind):
            raise NotFound("Organisation introuvable.")
        may = bool(auth.admin_cafs) and (
            (kind is OrganisationKind.caf and organisation_id in auth.admin_cafs)
            or (
                kind is OrganisationKind.collectivite
                and bool(auth.caf_collectivites.get(organisation_id, set()) & auth.admin_cafs)
            )
        )
        if not may:
            raise Forbidden("Seul un administrateur de la Caf enregistre des clients machine.")
    if role not in (CAF_ROLES if kind is OrganisationKind.caf else COLLECTIVITE_ROLES) and not (
        kind is OrganisationKind.national and role is Role.lecteur_national
    ):
        raise InvalidPayload(f"Rôle « {role.value} » impossible sur cette organisation.")
    if await repo.client_by_client_id(session, client_id) is not None:
        raise Conflict("Ce client_id est déjà enregistré.")
    client = Client(
        id=uuid.uuid4(),
        client_id=client_id,
        nom=nom,
        organisation_id=organisation_id,
        organisation_kind=kind.value,
        role=role.value,
        registered_by=actor.id,
    )
    try:
        async with session.begin_nested():
            await repo.add(session, client)
    except IntegrityError as exc:
        raise Conflict("Ce client_id est déjà enregistré.") from exc
    grant = await create_grant(
        session,
        organisation_id=organisation_id,
        kind=kind,
        role=role,
        actor=actor,
        client_id=client.id,
        default_days=default_days,
        reason="client machine enregistré",
        resolver=resolver,
    )
    if resolver is not None:
        # The client may have been refused (and that remembered) before its registration.
        resolver.invalidate_after_commit(session, None)
    return client, grant


async def register_client_for(
    session: AsyncSession,
    auth: Authority,
    *,
    client_id: str,
    nom: str,
    organisation_id: uuid.UUID,
    role: Role,
    default_days: int,
    resolver: DbGrantResolver | None,
) -> tuple[Client, Habilitation]:
    """A client registered through the API (by a Caf administrateur)."""
    client, grant = await register_client(
        session,
        client_id=client_id,
        nom=nom,
        organisation_id=organisation_id,
        kind=auth.kind_of(organisation_id, role),
        role=role,
        actor=actor_of(auth),
        default_days=default_days,
        auth=auth,
        resolver=resolver,
    )
    await session.refresh(client)
    return client, grant


async def list_clients(
    session: AsyncSession, auth: Authority, limit: int, cursor: str | None
) -> list[repo.ClientRow]:
    return await repo.list_clients(session, auth.visibility(), limit, cursor)
