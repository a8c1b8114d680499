"""Routes of the habilitations: /moi, grants, invitations, access requests, clients."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Response

from gateway.auth.dependencies import CurrentIdentity, current_principal
from gateway.habilitations import repository as repo
from gateway.habilitations import service, service_clients, service_requests
from gateway.habilitations.dependencies import (
    Ctx,
    HabilitationsContext,
    habilitations_lifespan,
)
from gateway.habilitations.models import (
    EvenementHabilitation,
    HabilitationEvent,
    StatutDemande,
    StatutHabilitation,
)
from gateway.habilitations.rights import (
    ClientRegister,
    DemandeDecide,
    DemandeRead,
    Everyone,
    HabilitationGrant,
    HabilitationManage,
    HabilitationRead,
    InvitationManage,
    InvitationRead,
)
from gateway.habilitations.schemas import (
    Acceptation,
    Attribuable,
    ClientCree,
    ClientIn,
    ClientOut,
    DemandeIn,
    DemandeOut,
    EvenementOut,
    HabilitationIn,
    HabilitationOut,
    InvitationCreee,
    InvitationIn,
    InvitationOut,
    Moi,
    MonHabilitation,
    Motif,
    MotifOptionnel,
    Renouvellement,
    Titulaire,
)
from kernel.database import DbSession
from kernel.etag import IfMatch, Preconditions, etag_for
from kernel.idempotency import idempotent_route_class
from kernel.pagination import Page, Pagination, make_page
from kernel.principal import OrganisationKind, PrincipalKind, Role

router = APIRouter(
    prefix="/api/v1",
    lifespan=habilitations_lifespan,
    route_class=idempotent_route_class(current_principal),
)
TAGS: list[str | Enum] = ["habilitations"]


def _grant_out(row: repo.GrantRow) -> HabilitationOut:
    g = row.grant
    if g.person_id is not None:
        holder = Titulaire(
            type="personne", id=g.person_id, nom=row.person_name, email=row.person_email
        )
    else:
        holder = Titulaire(
            type="client", id=g.client_id, nom=row.client_nom, client_id=row.client_client_id
        )
    return HabilitationOut(
        id=g.id,
        titulaire=holder,
        organisation_id=g.organisation_id,
        organisation_nom=row.organisation_name,
        organisation_type=OrganisationKind(g.organisation_kind),
        role=Role(g.role),
        statut=service.effective_status(g, row.db_now).value,
        valide_du=g.valid_from,
        valide_jusqu_au=g.valid_until,
        accordee_par=g.granted_by,
        accordee_par_nom=row.granted_by_name,
        accordee_le=g.granted_at,
        version=g.version,
    )


def _invitation_out(row: repo.InvitationRow) -> InvitationOut:
    i = row.invitation
    return InvitationOut(
        id=i.id,
        email=i.email,
        organisation_id=i.organisation_id,
        organisation_nom=row.organisation_name,
        organisation_type=OrganisationKind(i.organisation_kind),
        role=Role(i.role),
        statut=i.status,
        expire_le=i.expires_at,
        creee_par=i.created_by,
        creee_par_nom=row.created_by_name,
        creee_le=i.created_at,
        acceptee_par=i.accepted_by,
        acceptee_par_nom=row.accepted_by_name,
        habilitation_id=i.grant_id,
    )


def _demande_out(row: repo.DemandeRow) -> DemandeOut:
    d = row.demande
    return DemandeOut(
        id=d.id,
        personne_id=d.person_id,
        personne_nom=row.person_name,
        personne_email=row.person_email,
        organisation_id=d.organisation_id,
        organisation_nom=row.organisation_name,
        role=Role(d.role),
        message=d.message,
        statut=d.status,
        creee_le=d.created_at,
        decidee_par=d.decided_by,
        decidee_par_nom=row.decided_by_name,
        decidee_le=d.decided_at,
        motif=d.reason,
        habilitation_id=d.grant_id,
        version=d.version,
    )


def _client_out(row: repo.ClientRow) -> ClientOut:
    c = row.client
    return ClientOut(
        id=c.id,
        client_id=c.client_id,
        nom=c.nom,
        organisation_id=c.organisation_id,
        organisation_nom=row.organisation_name,
        organisation_type=OrganisationKind(c.organisation_kind),
        role=Role(c.role),
        enregistre_par=c.registered_by,
        enregistre_par_nom=row.registered_by_name,
        enregistre_le=c.registered_at,
    )


async def _grant_response(
    session: DbSession, response: Response, grant_id: uuid.UUID
) -> HabilitationOut:
    out = _grant_out(await service.grant_view(session, grant_id))
    response.headers["ETag"] = etag_for(out.id, out.version)
    return out


# --- moi ----------------------------------------------------------------------------------


@router.get(
    "/moi",
    tags=["moi"],
    summary="Qui je suis",
    description="L'appelant, ses habilitations et ce qu'il peut faire.",
)
async def moi(identity: CurrentIdentity, auth: Everyone, session: DbSession) -> Moi:
    mine = await service.situation(session, auth)
    return Moi(
        id=auth.principal.holder_id,
        type="client" if identity.kind is PrincipalKind.client else "personne",
        emetteur=identity.issuer,
        sujet=identity.subject,
        email=identity.email,
        nom=identity.name,
        habilitations=[
            MonHabilitation(**_grant_out(row).model_dump(), capacites=list(capacites))
            for row, capacites in mine.grants
        ],
        peut_attribuer=[
            Attribuable(organisation_id=o, organisation_type=k, roles=sorted(roles))
            for o, k, roles in mine.manageable
        ],
        habilitations_expirant_bientot=mine.expiring_soon,
        demandes_a_traiter=mine.pending_demandes,
    )


# --- grants -------------------------------------------------------------------------------


@router.get(
    "/habilitations",
    tags=TAGS,
    summary="Lister les habilitations visibles",
    description="Les habilitations que l'appelant peut voir, par date de fin de validité.",
)
async def list_grants(
    auth: Everyone,
    session: DbSession,
    page: Pagination,
    organisation_id: uuid.UUID | None = None,
    statut: Annotated[list[StatutHabilitation] | None, Query()] = None,
    expirant_avant: Annotated[
        dt.datetime | None,
        Query(description="Habilitations courantes expirant avant cette date (à renouveler)."),
    ] = None,
) -> Page[HabilitationOut]:
    rows = await service.list_grants(
        session,
        auth,
        limit=page.limit,
        cursor=page.cursor,
        organisation_id=organisation_id,
        statuts=statut,
        expiring_before=expirant_avant,
    )
    return make_page(
        rows,
        page.limit,
        key=lambda r: (r.grant.valid_until, r.grant.id),
        item=_grant_out,
    )


@router.post(
    "/habilitations",
    tags=TAGS,
    status_code=201,
    summary="Accorder une habilitation",
    description=(
        "Donne un rôle sur une organisation à une personne déjà connue de Coopération "
        "(connectée une fois)."
    ),
)
async def grant(
    body: HabilitationIn, auth: HabilitationGrant, ctx: Ctx, session: DbSession, response: Response
) -> HabilitationOut:
    created = await service.grant_to_person(
        session,
        auth,
        person_id=body.personne_id,
        organisation_id=body.organisation_id,
        role=body.role,
        valid_until=body.valide_jusqu_au,
        reason=body.motif,
        default_days=ctx.settings.grant_default_days,
        resolver=ctx.resolver,
    )
    response.headers["Location"] = f"/api/v1/habilitations/{created.id}"
    return await _grant_response(session, response, created.id)


@router.get(
    "/habilitations/{grant_id}",
    tags=TAGS,
    summary="Lire une habilitation",
    description="L'habilitation, son rôle, son organisation et sa validité, avec son ETag.",
)
async def get_grant(
    grant_id: uuid.UUID, auth: HabilitationRead, session: DbSession, response: Response
) -> HabilitationOut:
    out = _grant_out(await service.visible_grant(session, auth, grant_id))
    response.headers["ETag"] = etag_for(out.id, out.version)
    return out


@router.get(
    "/habilitations/{grant_id}/historique",
    tags=TAGS,
    summary="Historique d'une habilitation",
    description=(
        "Chaque décision sur l'habilitation (octroi, renouvellement, suspension, "
        "réactivation, révocation), jamais effacée."
    ),
)
async def grant_history(
    grant_id: uuid.UUID, auth: HabilitationRead, session: DbSession, page: Pagination
) -> Page[EvenementOut]:
    events = await service.grant_history(session, auth, grant_id, page.limit, page.cursor)

    def item(e: HabilitationEvent) -> EvenementOut:
        return EvenementOut(
            id=e.id,
            evenement=e.event,
            par=e.actor_id,
            par_libelle=e.actor_label,
            par_client=e.actor_client,
            motif=e.reason,
            role=Role(e.role),
            valide_jusqu_au=e.valid_until,
            le=e.at,
        )

    return make_page(events, page.limit, key=lambda e: (e.id,), item=item)


@router.post(
    "/habilitations/{grant_id}/renouvellement",
    tags=TAGS,
    summary="Renouveler une habilitation",
    description="Repousse la fin de validité de l'habilitation (par défaut : un an de plus).",
)
async def renew_grant(
    grant_id: uuid.UUID,
    body: Renouvellement,
    preconditions: IfMatch,
    auth: HabilitationManage,
    ctx: Ctx,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    await service.renew(
        session,
        auth,
        grant_id,
        preconditions,
        valid_until=body.valide_jusqu_au,
        default_days=ctx.settings.grant_default_days,
        reason=body.motif,
        resolver=ctx.resolver,
    )
    return await _grant_response(session, response, grant_id)


async def _status_change(
    grant_id: uuid.UUID,
    event: EvenementHabilitation,
    reason: str | None,
    preconditions: Preconditions,
    auth: service.Authority,
    ctx: HabilitationsContext,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    await service.change_status(session, auth, grant_id, preconditions, event, reason, ctx.resolver)
    return await _grant_response(session, response, grant_id)


@router.post(
    "/habilitations/{grant_id}/suspension",
    tags=TAGS,
    summary="Suspendre une habilitation",
    description="L'habilitation cesse d'ouvrir des droits jusqu'à sa réactivation.",
)
async def suspend_grant(
    grant_id: uuid.UUID,
    body: Motif,
    preconditions: IfMatch,
    auth: HabilitationManage,
    ctx: Ctx,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    return await _status_change(
        grant_id,
        EvenementHabilitation.suspendue,
        body.motif,
        preconditions,
        auth,
        ctx,
        session,
        response,
    )


@router.post(
    "/habilitations/{grant_id}/reactivation",
    tags=TAGS,
    summary="Réactiver une habilitation",
    description="Une habilitation suspendue ouvre de nouveau ses droits.",
)
async def reactivate_grant(
    grant_id: uuid.UUID,
    body: MotifOptionnel,
    preconditions: IfMatch,
    auth: HabilitationManage,
    ctx: Ctx,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    return await _status_change(
        grant_id,
        EvenementHabilitation.reactivee,
        body.motif,
        preconditions,
        auth,
        ctx,
        session,
        response,
    )


@router.post(
    "/habilitations/{grant_id}/revocation",
    tags=TAGS,
    summary="Révoquer une habilitation",
    description="Met fin à l'habilitation, définitivement.",
)
async def revoke_grant(
    grant_id: uuid.UUID,
    body: Motif,
    preconditions: IfMatch,
    auth: HabilitationManage,
    ctx: Ctx,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    return await _status_change(
        grant_id,
        EvenementHabilitation.revoquee,
        body.motif,
        preconditions,
        auth,
        ctx,
        session,
        response,
    )


# --- invitations ------------------------------------------------------------------------


@router.post(
    "/invitations",
    tags=["invitations"],
    status_code=201,
    summary="Inviter par e-mail",
    description=(
        "Invite une personne pas encore connue de Coopération à recevoir un rôle sur "
        "une organisation ; elle reçoit un e-mail avec un jeton."
    ),
)
async def create_invitation(
    body: InvitationIn, auth: HabilitationGrant, ctx: Ctx, session: DbSession, response: Response
) -> InvitationCreee:
    created = await service_requests.invite(
        session,
        auth,
        email=body.email,
        organisation_id=body.organisation_id,
        role=body.role,
        days=body.expire_dans_jours or ctx.settings.invitation_default_days,
    )
    response.headers["Location"] = f"/api/v1/invitations/{created.invitation.id}"
    row = await repo.invitation_row(session, created.invitation.id)
    return InvitationCreee(**_invitation_out(row).model_dump(), jeton=created.token)


@router.get(
    "/invitations",
    tags=["invitations"],
    summary="Lister les invitations",
    description="Les invitations que l'appelant peut voir.",
)
async def list_invitations(
    auth: Everyone, session: DbSession, page: Pagination, organisation_id: uuid.UUID | None = None
) -> Page[InvitationOut]:
    items = await service_requests.list_invitations(
        session, auth, page.limit, page.cursor, organisation_id
    )
    return make_page(
        items,
        page.limit,
        key=lambda r: (r.invitation.created_at, r.invitation.id),
        item=_invitation_out,
    )


@router.get(
    "/invitations/{invitation_id}",
    tags=["invitations"],
    summary="Lire une invitation",
    description=(
        "L'invitation, son état et qui l'a créée ou acceptée ; visible de qui voit la "
        "liste des invitations de son organisation (404 sinon). Le jeton n'est jamais "
        "relu."
    ),
)
async def get_invitation(
    invitation_id: uuid.UUID, auth: InvitationRead, session: DbSession
) -> InvitationOut:
    return _invitation_out(await service_requests.visible_invitation(session, auth, invitation_id))


@router.post(
    "/invitations/acceptation",
    tags=["invitations"],
    status_code=201,
    summary="Accepter une invitation",
    description=(
        "La personne invitée, connectée, présente le jeton reçu ; l'e-mail de son jeton"
        " d'accès doit correspondre."
    ),
)
async def accept_invitation(
    body: Acceptation,
    identity: CurrentIdentity,
    auth: Everyone,
    ctx: Ctx,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    created = await service_requests.accept_invitation(
        session,
        auth,
        token=body.jeton,
        email=identity.email,
        default_days=ctx.settings.grant_default_days,
        resolver=ctx.resolver,
    )
    response.headers["Location"] = f"/api/v1/habilitations/{created.id}"
    return await _grant_response(session, response, created.id)


@router.post(
    "/invitations/{invitation_id}/annulation",
    tags=["invitations"],
    summary="Annuler une invitation",
    description="Une invitation pas encore acceptée ne peut plus l'être.",
)
async def cancel_invitation(
    invitation_id: uuid.UUID, auth: InvitationManage, session: DbSession
) -> InvitationOut:
    invitation = await service_requests.cancel_invitation(session, auth, invitation_id)
    return _invitation_out(await repo.invitation_row(session, invitation.id))


# --- access requests ---------------------------------------------------------------------


@router.post(
    "/demandes-acces",
    tags=["demandes d'accès"],
    status_code=201,
    summary="Demander un accès",
    description=(
        "Une personne connectée demande un rôle sur une organisation ; un "
        "administrateur l'approuve ou la refuse."
    ),
)
async def create_demande(
    body: DemandeIn,
    auth: Everyone,
    session: DbSession,
    identity: CurrentIdentity,
    response: Response,
) -> DemandeOut:
    demande = await service_requests.request_access(
        session, auth, organisation_id=body.organisation_id, role=body.role, message=body.message
    )
    response.headers["ETag"] = etag_for(demande.id, demande.version)
    response.headers["Location"] = f"/api/v1/demandes-acces/{demande.id}"
    name = await repo.organisation_name(session, demande.organisation_id)
    return _demande_out(repo.DemandeRow(demande, identity.name, identity.email, None, name))


@router.get(
    "/demandes-acces",
    tags=["demandes d'accès"],
    summary="Lister les demandes d'accès",
    description="Les demandes d'accès que l'appelant peut voir.",
)
async def list_demandes(
    auth: Everyone,
    session: DbSession,
    page: Pagination,
    statut: StatutDemande | None = None,
    organisation_id: uuid.UUID | None = None,
) -> Page[DemandeOut]:
    rows = await service_requests.list_demandes(
        session, auth, page.limit, page.cursor, statut, organisation_id
    )
    return make_page(
        rows,
        page.limit,
        key=lambda r: (r.demande.created_at, r.demande.id),
        item=_demande_out,
    )


@router.get(
    "/demandes-acces/{demande_id}",
    tags=["demandes d'accès"],
    summary="Lire une demande d'accès",
    description="La demande, son état et la décision prise.",
)
async def get_demande(
    demande_id: uuid.UUID, auth: DemandeRead, session: DbSession, response: Response
) -> DemandeOut:
    row = await service_requests.visible_demande(session, auth, demande_id)
    response.headers["ETag"] = etag_for(row.demande.id, row.demande.version)
    return _demande_out(row)


@router.post(
    "/demandes-acces/{demande_id}/approbation",
    tags=["demandes d'accès"],
    summary="Approuver une demande d'accès",
    description="Accorde l'habilitation demandée.",
)
async def approve_demande(
    demande_id: uuid.UUID,
    body: MotifOptionnel,
    preconditions: IfMatch,
    auth: DemandeDecide,
    ctx: Ctx,
    session: DbSession,
    response: Response,
) -> HabilitationOut:
    created = await service_requests.approve(
        session,
        auth,
        demande_id,
        preconditions,
        reason=body.motif,
        default_days=ctx.settings.grant_default_days,
        resolver=ctx.resolver,
    )
    response.headers["Location"] = f"/api/v1/habilitations/{created.id}"
    return await _grant_response(session, response, created.id)


@router.post(
    "/demandes-acces/{demande_id}/refus",
    tags=["demandes d'accès"],
    summary="Refuser une demande d'accès",
    description="Refuse la demande d'accès.",
)
async def refuse_demande(
    demande_id: uuid.UUID,
    body: Motif,
    preconditions: IfMatch,
    auth: DemandeDecide,
    session: DbSession,
    response: Response,
) -> DemandeOut:
    row = await service_requests.refuse(session, auth, demande_id, preconditions, reason=body.motif)
    response.headers["ETag"] = etag_for(row.demande.id, row.demande.version)
    return _demande_out(row)


# --- machine clients ------------------------------------------------------------------------


@router.post(
    "/clients",
    tags=["clients machine"],
    status_code=201,
    summary="Enregistrer un client machine",
    description="Enregistre un système partenaire (client OIDC `client_credentials`).",
)
async def register_client(
    body: ClientIn, auth: ClientRegister, ctx: Ctx, session: DbSession, response: Response
) -> ClientCree:
    client, created = await service_clients.register_client_for(
        session,
        auth,
        client_id=body.client_id,
        nom=body.nom,
        organisation_id=body.organisation_id,
        role=body.role,
        default_days=ctx.settings.grant_default_days,
        resolver=ctx.resolver,
    )
    grant_out = await _grant_response(session, response, created.id)
    response.headers["Location"] = f"/api/v1/clients/{client.id}"
    out = _client_out(await repo.client_row(session, client.id))
    return ClientCree(**out.model_dump(), habilitation=grant_out)


@router.get(
    "/clients",
    tags=["clients machine"],
    summary="Lister les clients machine",
    description="Les systèmes partenaires enregistrés.",
)
async def list_clients(auth: Everyone, session: DbSession, page: Pagination) -> Page[ClientOut]:
    items = await service_clients.list_clients(session, auth, page.limit, page.cursor)
    return make_page(items, page.limit, key=lambda r: (r.client.client_id,), item=_client_out)


__all__ = ["StatutDemande", "router"]
