"""Domain rules of conventions: scope and write right, the dates rule, what signing
requires, creation and changes while in préparation, signatories, and the history every
change records. Representations: service_views; signature and after: service_lifecycle."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import StatutConvention
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.history import Kind, Snapshot
from kernel.principal import Principal, Role
from services.conventions import repository as repo
from services.conventions.history import CONVENTION, HISTORY, SIGNATAIRE
from services.conventions.models import (
    THEMATIQUES_SOCLE,
    Convention,
    CopilRow,
    Organisation,
    Signataire,
    TypeOrganisation,
)
from services.conventions.repository import SignataireRow
from services.conventions.schemas import (
    ConventionCreate,
    ConventionPatch,
    Copil,
    SignataireIn,
    SignatairePatch,
)

# A convention's signatories, in their order (the Caf first).
SigRows = list[SignataireRow]


class ConventionFacts(Protocol):
    """What the rules read of a convention: an ORM instance (writes) or a typed row of a
    read (`repository.ConventionRow`, `ConventionListed`)."""

    @property
    def caf_id(self) -> uuid.UUID: ...

    @property
    def statut(self) -> str: ...

    @property
    def date_debut(self) -> dt.date: ...

    @property
    def date_fin(self) -> dt.date: ...

    @property
    def date_effet_resiliation(self) -> dt.date | None: ...

    @property
    def thematiques(self) -> list[str]: ...


# --- small date helpers ------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def max_date_fin(date_debut: dt.date, extra_years: int = 0) -> dt.date:
    """End date limit: 31 December of N+4 (N = start year), + one year after a prolongation."""
    return dt.date(date_debut.year + 4 + extra_years, 12, 31)


def dates_problems(
    date_debut: dt.date, date_fin: dt.date, *, extra_years: int = 0
) -> list[dict[str, object]]:
    problems: list[dict[str, object]] = []
    if date_debut > date_fin:
        problems.append(
            {
                "pointer": "/date_fin",
                "field": "date_fin",
                "code": "dates_inversees",
                "message": "La date de fin précède la date de début.",
            }
        )
    limit = max_date_fin(date_debut, extra_years)
    if date_fin > limit:
        problems.append(
            {
                "pointer": "/date_fin",
                "field": "date_fin",
                "code": "duree_maximale",
                "message": f"La date de fin ne peut dépasser le {limit.isoformat()} "
                "(31 décembre de l'année N+4).",
            }
        )
    return problems


def check_dates(date_debut: dt.date, date_fin: dt.date, *, extra_years: int = 0) -> None:
    problems = dates_problems(date_debut, date_fin, extra_years=extra_years)
    if problems:
        raise InvalidPayload("Dates de la convention invalides.", errors=problems)


# --- scope and rights --------------------------------------------------------------------


def can_write(principal: Principal, convention: ConventionFacts) -> bool:
    """Conventions are created and changed by the agents of their Caf only."""
    return convention.caf_id in principal.caf_write_ids()


async def load_readable(
    session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> Convention:
    convention = await repo.get_convention(session, convention_id, principal)
    if convention is None:
        raise NotFound("Convention introuvable.")
    return convention


async def load_writable(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    preconditions: Preconditions,
) -> Convention:
    """404 outside the read scope, 403 when readable only, then the request's
    preconditions on its version; locked for the transaction."""
    convention = await repo.get_convention(session, convention_id, principal, for_update=True)
    if convention is None:
        raise NotFound("Convention introuvable.")
    if not can_write(principal, convention):
        raise Forbidden("Seuls les agents de la Caf de la convention peuvent la modifier.")
    preconditions.check(etag_for(convention.id, convention.version))
    return convention


def parties(
    principal: Principal, convention: ConventionFacts, signataire_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """The signatories the principal may act for in art. 12's acts (mise en demeure,
    résiliation): every one for the Caf's agents, who enter them on a party's behalf;
    its own collectivité for the referent of a signatory collectivité."""
    ids = set(signataire_ids)
    if can_write(principal, convention):
        return ids
    return ids & principal.collectivite_ids([Role.referent])


async def load_for_parties(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    preconditions: Preconditions,
) -> tuple[Convention, SigRows, set[uuid.UUID]]:
    """A convention locked for an act of art. 12, its signatories and the parties the
    principal may act for: 404 outside the read scope, 403 when it acts for none, then
    the request's preconditions on its version."""
    convention = await repo.get_convention(session, convention_id, principal, for_update=True)
    if convention is None:
        raise NotFound("Convention introuvable.")
    sigs = await repo.signataires_of_convention(session, convention.id)
    acting = parties(principal, convention, (s.organisation_id for s in sigs))
    if not acting:
        raise Forbidden(
            "Seuls les agents de la Caf de la convention, ou le référent d'une collectivité "
            "signataire pour sa collectivité, peuvent agir sur la fin de la convention."
        )
    preconditions.check(etag_for(convention.id, convention.version))
    return convention, sigs, acting


# --- signature rule ----------------------------------------------------------------------


def socle_manquant(thematiques: Iterable[str]) -> list[str]:
    """The thématiques of the socle minimum (003, model convention) not in `thematiques`."""
    present = set(thematiques)
    return [t.value for t in THEMATIQUES_SOCLE if t.value not in present]


def signature_problems(
    convention: ConventionFacts, signataires: SigRows, today: dt.date, *, socle: bool = True
) -> list[dict[str, object]]:
    """Why the convention cannot be signed right now (empty: it can). `socle=False`: a
    CTG signed before the product is recorded without the socle (a warning instead)."""
    problems: list[dict[str, object]] = []
    if not any(s.type != TypeOrganisation.caf for s in signataires):
        problems.append(
            {"code": "signataire_manquant", "message": "Aucune collectivité signataire."}
        )
    for sig in signataires:
        if sig.date_signature is None:
            problems.append(
                {
                    "code": "signature_manquante",
                    "organisation_id": str(sig.organisation_id),
                    "message": f"Date de signature manquante pour {sig.nom}.",
                }
            )
        elif sig.date_signature > today:
            problems.append(
                {
                    "code": "signature_future",
                    "organisation_id": str(sig.organisation_id),
                    "message": f"La date de signature de {sig.nom} est dans le futur.",
                }
            )
    missing = socle_manquant(convention.thematiques) if socle else []
    if missing:
        problems.append(
            {
                "code": "socle_thematiques",
                "message": "Thématiques du socle manquantes : " + ", ".join(missing) + ".",
            }
        )
    for problem in dates_problems(convention.date_debut, convention.date_fin):
        problems.append({"code": problem["code"], "message": problem["message"]})
    return problems


# --- history -----------------------------------------------------------------------------


async def record(
    session: AsyncSession,
    convention: Convention,
    transition: str,
    principal: Principal,
    *,
    before: Snapshot | None = None,
    creation: bool = False,
    motif: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """Every change to the convention itself is recorded (who, when, through which
    client, what: the values set at its `creation`, else its fields before and after
    when `before` was taken, and why), and bumps the feed."""
    await repo.touch(session, convention)
    if before is None and not creation:
        before = CONVENTION.snapshot(convention)  # a step that changed none of its fields
    await HISTORY.record(
        session,
        principal,
        CONVENTION,
        convention,
        before,
        evenement=transition,
        motif=motif,
        details=details,
    )


async def record_part(
    session: AsyncSession,
    convention: Convention,
    transition: str,
    principal: Principal,
    kind: Kind,
    part: object,
    before: Snapshot | None,
    *,
    deleted: bool = False,
    motif: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """A change to a part of the convention (a signatory, an équipement, a mise en
    demeure): its own row, under the convention, which it bumps in the feed."""
    await repo.touch(session, convention)
    await HISTORY.record(
        session,
        principal,
        kind,
        part,
        before,
        deleted=deleted,
        evenement=transition,
        motif=motif,
        details=details,
    )


# --- signatories -------------------------------------------------------------------------


async def signatory_organisations(
    session: AsyncSession, wanted: Sequence[SignataireIn], pointer: str
) -> dict[uuid.UUID, Organisation]:
    orgs = await repo.get_organisations(session, [s.organisation_id for s in wanted])
    errors = []
    seen: set[uuid.UUID] = set()
    for i, s in enumerate(wanted):
        org = orgs.get(s.organisation_id)
        if org is None or org.type == TypeOrganisation.national:
            errors.append(
                {
                    "pointer": f"{pointer}/{i}/organisation_id",
                    "field": "organisation_id",
                    "code": "organisation_inconnue",
                    "message": "Organisation inconnue du répertoire.",
                }
            )
        elif s.organisation_id in seen:
            errors.append(
                {
                    "pointer": f"{pointer}/{i}/organisation_id",
                    "field": "organisation_id",
                    "code": "doublon",
                    "message": "Signataire en double.",
                }
            )
        seen.add(s.organisation_id)
    if errors:
        raise InvalidPayload("Signataires invalides.", errors=errors)
    return orgs


def new_signataire(convention_id: uuid.UUID, s: SignataireIn, ordre: int) -> Signataire:
    return Signataire(
        convention_id=convention_id,
        organisation_id=s.organisation_id,
        representant=s.representant,
        deliberation_reference=s.deliberation_reference,
        deliberation_date=s.deliberation_date,
        date_signature=s.date_signature,
        ordre=ordre,
    )


# --- create and change -------------------------------------------------------------------


async def create_convention(
    session: AsyncSession, principal: Principal, data: ConventionCreate, today: dt.date
) -> Convention:
    if data.caf_id not in principal.caf_write_ids():
        raise Forbidden("Seuls les agents de la Caf créent ses conventions.")
    check_dates(data.date_debut, data.date_fin)
    caf = await repo.get_organisation(session, data.caf_id)
    if caf is None or caf.type != TypeOrganisation.caf:
        raise InvalidPayload(
            "La Caf de la convention est inconnue du répertoire.",
            errors=[{"pointer": "/caf_id", "field": "caf_id", "code": "caf_inconnue"}],
        )
    await signatory_organisations(session, data.signataires, "/signataires")
    convention = Convention(
        id=uuid.uuid4(),
        caf_id=data.caf_id,
        echelon=data.echelon.value,
        titre=data.titre,
        date_debut=data.date_debut,
        date_fin=data.date_fin,
        thematiques=[t.value for t in dict.fromkeys(data.thematiques)],
        objectifs_partages=list(data.objectifs_partages),
        copil=copil_row(data.copil),
        statut=StatutConvention.en_preparation.value,
        numero_version=1,
        version=0,
        seq=await repo.next_seq(session),
    )
    await repo.add(session, convention)
    # The Caf is always a signatory (first).
    wanted = [s for s in data.signataires if s.organisation_id != data.caf_id]
    caf_in = next((s for s in data.signataires if s.organisation_id == data.caf_id), None)
    rows = [new_signataire(convention.id, caf_in or SignataireIn(organisation_id=data.caf_id), 0)]
    rows += [new_signataire(convention.id, s, i + 1) for i, s in enumerate(wanted)]
    await repo.add(session, *rows)
    await record(
        session,
        convention,
        "création",
        principal,
        creation=True,
        details={"signataires": [str(r.organisation_id) for r in rows]},
    )
    return convention


def set_copil(convention: Convention, copil: Copil) -> None:
    """Annexe 4's COPIL settings: in préparation, or by avenant."""
    convention.copil = copil_row(copil)


def copil_row(copil: Copil) -> CopilRow:
    """Annexe 4's COPIL as stored: the API's fields, by name."""
    return CopilRow(**copil.model_dump(mode="json"))


def require_preparation(convention: Convention) -> None:
    if convention.statut != StatutConvention.en_preparation:
        raise Conflict(
            "La convention est signée : toute modification passe par un avenant."
            if convention.statut == StatutConvention.signee
            else "La convention est résiliée : elle ne peut plus être modifiée."
        )


async def patch_convention(
    session: AsyncSession, principal: Principal, convention: Convention, data: ConventionPatch
) -> Convention:
    require_preparation(convention)
    before = CONVENTION.snapshot(convention)
    changes = data.model_dump(exclude_unset=True, mode="json")
    for key in ("echelon", "titre", "date_debut", "date_fin", "thematiques", "copil"):
        if key in changes and changes[key] is None:
            raise InvalidPayload(
                f"Le champ {key} ne peut pas être vidé.",
                errors=[{"pointer": f"/{key}", "field": key, "code": "null"}],
            )
    debut = data.date_debut or convention.date_debut
    fin = data.date_fin or convention.date_fin
    check_dates(debut, fin)
    convention.date_debut, convention.date_fin = debut, fin
    if data.echelon is not None:
        convention.echelon = data.echelon.value
    if data.titre is not None:
        convention.titre = data.titre
    if data.thematiques is not None:
        convention.thematiques = [t.value for t in dict.fromkeys(data.thematiques)]
    if "objectifs_partages" in changes:
        convention.objectifs_partages = list(data.objectifs_partages or [])
    if data.copil is not None:
        set_copil(convention, data.copil)
    await record(
        session, convention, "modification", principal, before=before, details={"champs": changes}
    )
    return convention


async def add_signataire(
    session: AsyncSession, principal: Principal, convention: Convention, data: SignataireIn
) -> None:
    require_preparation(convention)
    await signatory_organisations(session, [data], "")
    current = await repo.signataires_of_convention(session, convention.id)
    if any(sig.organisation_id == data.organisation_id for sig in current):
        raise Conflict("Cette organisation est déjà signataire de la convention.")
    sig = new_signataire(convention.id, data, len(current))
    await repo.add(session, sig)
    await record_part(
        session,
        convention,
        "ajout de signataire",
        principal,
        SIGNATAIRE,
        sig,
        None,
        details={"organisation_id": str(data.organisation_id)},
    )


async def patch_signataire(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    organisation_id: uuid.UUID,
    data: SignatairePatch,
) -> None:
    require_preparation(convention)
    sig = await repo.get_signataire(session, convention.id, organisation_id)
    if sig is None:
        raise NotFound("Signataire introuvable.")
    before = SIGNATAIRE.snapshot(sig)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(sig, key, value)
    await record_part(
        session,
        convention,
        "modification de signataire",
        principal,
        SIGNATAIRE,
        sig,
        before,
        details={
            "organisation_id": str(organisation_id),
            "champs": data.model_dump(exclude_unset=True, mode="json"),
        },
    )


async def remove_signataire(
    session: AsyncSession, principal: Principal, convention: Convention, organisation_id: uuid.UUID
) -> None:
    require_preparation(convention)
    if organisation_id == convention.caf_id:
        raise Conflict("La Caf est toujours signataire de sa convention.")
    sig = await repo.get_signataire(session, convention.id, organisation_id)
    if sig is None:
        raise NotFound("Signataire introuvable.")
    before = SIGNATAIRE.snapshot(sig)
    await repo.delete(session, sig)
    await record_part(
        session,
        convention,
        "retrait de signataire",
        principal,
        SIGNATAIRE,
        sig,
        before,
        deleted=True,
        details={"organisation_id": str(organisation_id)},
    )
