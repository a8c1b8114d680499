"""The end of the convention as art. 12 of the model convention (003) writes it: mises en
demeure, and the three résiliations, each recording the party that initiated it and why.

Who enters them: the Caf's agents, on behalf of any party; the referent of a signatory
collectivité, for its own collectivité (`service.load_for_parties`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import StatutConvention
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.principal import Principal
from services.conventions import repository as repo
from services.conventions.history import CONVENTION, MISE_EN_DEMEURE
from services.conventions.models import (
    Convention,
    FondementMiseEnDemeure,
    MiseEnDemeure,
    ModeResiliation,
    ResiliationRow,
    StatutMiseEnDemeure,
)
from services.conventions.schemas import LeveeIn, MiseEnDemeureIn, MiseEnDemeureOut, ResiliationIn
from services.conventions.service import SigRows, add_months, can_write, record, record_part
from services.conventions.service_lifecycle import require_running

# "à l'expiration d'un délai d'un mois suivant l'envoi d'une lettre recommandée avec
# avis de réception valant mise en demeure [...] et restée infructueuse"
DELAI_MISE_EN_DEMEURE_MOIS = 1
# "La présente convention peut être dénoncée par l'une ou l'autre des parties moyennant
# un délai de prévenance de 6 mois."
PREAVIS_DENONCIATION_MOIS = 6


def resiliable_from(mise_en_demeure: MiseEnDemeure) -> dt.date:
    return add_months(mise_en_demeure.date_envoi, DELAI_MISE_EN_DEMEURE_MOIS)


_DERIVED = {"resiliable_a_partir_du", "emetteur_nom", "destinataire_nom"}
_STORED = [k for k in MiseEnDemeureOut.model_fields if k not in _DERIVED]


def mise_en_demeure_out(
    mise_en_demeure: MiseEnDemeure, noms: Mapping[uuid.UUID, str]
) -> MiseEnDemeureOut:
    """The letter as the API shows it; `noms` names its parties (organisation_names)."""
    fields = {k: getattr(mise_en_demeure, k) for k in _STORED}
    return MiseEnDemeureOut.model_validate(
        {
            **fields,
            "resiliable_a_partir_du": resiliable_from(mise_en_demeure),
            "emetteur_nom": noms.get(mise_en_demeure.emetteur_id),
            "destinataire_nom": noms.get(mise_en_demeure.destinataire_id),
        }
    )


async def mises_en_demeure_out(
    session: AsyncSession, letters: Sequence[MiseEnDemeure]
) -> list[MiseEnDemeureOut]:
    """Letters with their parties' names, read in one statement for them all."""
    noms = await repo.organisation_names(
        session, [p for m in letters for p in (m.emetteur_id, m.destinataire_id)]
    )
    return [mise_en_demeure_out(m, noms) for m in letters]


def _past(day: dt.date, today: dt.date, field: str, what: str) -> None:
    if day > today:
        raise InvalidPayload(
            f"{what} ne peut pas être dans le futur.",
            errors=[{"pointer": f"/{field}", "field": field}],
        )


def _require_party(acting: set[uuid.UUID], party: uuid.UUID, sigs: SigRows) -> None:
    """403 when the caller may not act for `party` (a referent for another party)."""
    if party not in acting:
        nom = next((s.nom for s in sigs if s.organisation_id == party), "cette partie")
        raise Forbidden(f"Vous ne pouvez pas agir au nom de {nom}.")


def _signatory(sigs: SigRows, org_id: uuid.UUID, field: str) -> uuid.UUID:
    if not any(s.organisation_id == org_id for s in sigs):
        raise InvalidPayload(
            "Cette organisation n'est pas signataire de la convention.",
            errors=[{"pointer": f"/{field}", "field": field, "code": "non_signataire"}],
        )
    return org_id


# --- mises en demeure --------------------------------------------------------------------


async def mettre_en_demeure(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    sigs: SigRows,
    acting: set[uuid.UUID],
    data: MiseEnDemeureIn,
    today: dt.date,
) -> MiseEnDemeure:
    """003 art. 12: "En cas de non-respect par l'une des parties de l'une de ses
    obligations [...] une lettre recommandée avec avis de réception valant mise en
    demeure de se conformer aux obligations contractuelles"; for "infractions [...] aux
    lois et règlements en vigueur", the résiliation is the Caf's."""
    require_running(convention, today, "Mise en demeure impossible")
    _past(data.date_envoi, today, "date_envoi", "La date d'envoi")
    if convention.date_signature is not None and data.date_envoi < convention.date_signature:
        raise InvalidPayload(
            "La mise en demeure ne peut précéder la signature de la convention.",
            errors=[{"pointer": "/date_envoi", "field": "date_envoi"}],
        )
    emetteur = _signatory(sigs, data.emetteur_id, "emetteur_id")
    destinataire = _signatory(sigs, data.destinataire_id, "destinataire_id")
    if emetteur == destinataire:
        raise InvalidPayload(
            "Une partie ne se met pas elle-même en demeure.",
            errors=[{"pointer": "/destinataire_id", "field": "destinataire_id"}],
        )
    _require_party(acting, emetteur, sigs)
    if (
        data.fondement is FondementMiseEnDemeure.lois_et_reglements
        and emetteur != convention.caf_id
    ):
        raise Conflict(
            "Les infractions aux lois et règlements entraînent la résiliation par la Caf "
            "(art. 12) : c'est la Caf qui met en demeure."
        )
    mise_en_demeure = MiseEnDemeure(
        id=uuid.uuid4(),
        convention_id=convention.id,
        date_envoi=data.date_envoi,
        emetteur_id=emetteur,
        destinataire_id=destinataire,
        fondement=data.fondement.value,
        obligations=data.obligations,
        lettre_document_id=data.lettre_document_id,
        statut=StatutMiseEnDemeure.en_cours.value,
        auteur=principal.subject,
        auteur_nom=principal.name,
    )
    await repo.add(session, mise_en_demeure)
    await record_part(
        session,
        convention,
        "mise en demeure",
        principal,
        MISE_EN_DEMEURE,
        mise_en_demeure,
        None,
        motif=data.obligations,
        details={
            "mise_en_demeure_id": str(mise_en_demeure.id),
            "emetteur_id": str(emetteur),
            "destinataire_id": str(destinataire),
            "fondement": data.fondement.value,
        },
    )
    await session.refresh(mise_en_demeure, ["cree_le"])
    return mise_en_demeure


async def open_mise_en_demeure(
    session: AsyncSession, convention: Convention, mise_en_demeure_id: uuid.UUID
) -> MiseEnDemeure:
    found = await repo.get_mise_en_demeure(session, convention.id, mise_en_demeure_id)
    if found is None:
        raise NotFound("Mise en demeure introuvable.")
    if found.statut != StatutMiseEnDemeure.en_cours:
        raise Conflict(f"Cette mise en demeure est close ({found.statut}).")
    return found


async def lever(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    sigs: SigRows,
    acting: set[uuid.UUID],
    mise_en_demeure_id: uuid.UUID,
    data: LeveeIn,
    today: dt.date,
) -> MiseEnDemeure:
    """The party complied: the mise en demeure is closed, no résiliation may follow it."""
    mise_en_demeure = await open_mise_en_demeure(session, convention, mise_en_demeure_id)
    _require_party(acting, mise_en_demeure.emetteur_id, sigs)
    day = data.date_cloture or today
    _past(day, today, "date_cloture", "La date de levée")
    if day < mise_en_demeure.date_envoi:
        raise InvalidPayload(
            "La levée ne peut précéder l'envoi de la mise en demeure.",
            errors=[{"pointer": "/date_cloture", "field": "date_cloture"}],
        )
    before = MISE_EN_DEMEURE.snapshot(mise_en_demeure)
    mise_en_demeure.statut = StatutMiseEnDemeure.levee.value
    mise_en_demeure.date_cloture = day
    mise_en_demeure.motif_cloture = data.motif
    await record_part(
        session,
        convention,
        "levée de mise en demeure",
        principal,
        MISE_EN_DEMEURE,
        mise_en_demeure,
        before,
        motif=data.motif,
        details={"mise_en_demeure_id": str(mise_en_demeure.id), "date": day.isoformat()},
    )
    return mise_en_demeure


# --- résiliation -------------------------------------------------------------------------


def date_effet(mode: ModeResiliation, notification: dt.date) -> dt.date:
    """A résiliation takes effect when it is notified ("l'arrêt immédiat des engagements
    des parties"), a dénonciation six months later."""
    if mode is ModeResiliation.denonciation:
        return add_months(notification, PREAVIS_DENONCIATION_MOIS)
    return notification


def _default_party(
    principal: Principal, convention: Convention, acting: set[uuid.UUID]
) -> uuid.UUID:
    """Who résilie when the request does not say: the Caf for its agents, else the
    referent's own collectivité when it is the only one."""
    if can_write(principal, convention):
        return convention.caf_id
    if len(acting) == 1:
        return next(iter(acting))
    raise InvalidPayload(
        "Préciser la partie qui résilie (initiateur_id).",
        errors=[{"pointer": "/initiateur_id", "field": "initiateur_id"}],
    )


async def _initiateur(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    sigs: SigRows,
    acting: set[uuid.UUID],
    data: ResiliationIn,
    notification: dt.date,
) -> tuple[uuid.UUID, MiseEnDemeure | None]:
    """The party that résilie, checked against the mode's rule; the mise en demeure the
    résiliation follows (that mode only)."""
    asked = (
        None
        if data.initiateur_id is None
        else _signatory(sigs, data.initiateur_id, "initiateur_id")
    )
    if data.mode is ModeResiliation.sans_mise_en_demeure:
        # "résiliée de plein droit par la Caf, sans qu'il soit besoin de procéder à une
        # mise en demeure [...] en cas de modification d'un des termes de la présente
        # convention sans la signature d'un avenant"
        party = asked or convention.caf_id
        if party != convention.caf_id:
            raise Conflict(
                "La résiliation sans mise en demeure est prononcée par la Caf seule, pour une "
                "modification de la convention faite sans avenant (art. 12)."
            )
        _require_party(acting, party, sigs)
        return party, None
    if data.mode is ModeResiliation.avec_mise_en_demeure:
        if data.mise_en_demeure_id is None:
            raise Conflict(
                "La résiliation avec mise en demeure suit une mise en demeure restée "
                "infructueuse un mois après son envoi (art. 12) : enregistrer d'abord la "
                "mise en demeure, puis indiquer mise_en_demeure_id."
            )
        mise_en_demeure = await open_mise_en_demeure(session, convention, data.mise_en_demeure_id)
        party = asked or mise_en_demeure.emetteur_id
        if party != mise_en_demeure.emetteur_id:
            raise Conflict("La résiliation est prononcée par la partie qui a mis en demeure.")
        _require_party(acting, party, sigs)
        earliest = resiliable_from(mise_en_demeure)
        if notification < earliest:
            raise Conflict(
                "Le délai d'un mois suivant la mise en demeure du "
                f"{mise_en_demeure.date_envoi.isoformat()} n'est pas expiré : la résiliation "
                f"peut être prononcée à partir du {earliest.isoformat()}.",
                extra={"resiliable_a_partir_du": earliest.isoformat()},
            )
        return party, mise_en_demeure
    # "dénoncée par l'une ou l'autre des parties moyennant un délai de prévenance de 6 mois"
    party = asked or _default_party(principal, convention, acting)
    _require_party(acting, party, sigs)
    return party, None


async def resilier(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    sigs: SigRows,
    acting: set[uuid.UUID],
    data: ResiliationIn,
    today: dt.date,
) -> None:
    require_running(convention, today, "Résiliation impossible")
    notification = data.date_notification or today
    _past(notification, today, "date_notification", "La date de notification")
    party, mise_en_demeure = await _initiateur(
        session, principal, convention, sigs, acting, data, notification
    )
    effet = date_effet(data.mode, notification)
    if effet > convention.date_fin:
        raise Conflict(
            f"La résiliation prendrait effet le {effet.isoformat()}, après la fin de la "
            f"convention ({convention.date_fin.isoformat()})."
        )
    before = CONVENTION.snapshot(convention)
    convention.statut = StatutConvention.resiliee.value
    convention.resiliation = ResiliationRow(
        mode=data.mode.value,
        date_notification=notification,
        motif=data.motif,
        date_effet=effet,
        initiateur_id=party,
        mise_en_demeure_id=None if mise_en_demeure is None else mise_en_demeure.id,
    )
    details: dict[str, object] = {
        "mode": data.mode.value,
        "initiateur_id": str(party),
        "date_notification": notification.isoformat(),
        "date_effet": effet.isoformat(),
    }
    if mise_en_demeure is not None:
        mise_en_demeure.statut = StatutMiseEnDemeure.infructueuse.value
        mise_en_demeure.date_cloture = notification
        details["mise_en_demeure_id"] = str(mise_en_demeure.id)
    # Any other pending mise en demeure has nothing left to lead to.
    await repo.close_mises_en_demeure(
        session, convention.id, StatutMiseEnDemeure.sans_objet.value, notification
    )
    await record(
        session,
        convention,
        "résiliation",
        principal,
        before=before,
        motif=data.motif,
        details=details,
    )
