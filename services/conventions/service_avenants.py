"""Avenants: every change to a signed convention, its annexes included (art. 11 of the
model convention), and the one prolongation the 2026 circular allows."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import StatutConvention
from kernel.errors import Conflict, InvalidPayload
from kernel.principal import Principal
from services.conventions import repository as repo
from services.conventions.history import CONVENTION
from services.conventions.models import Avenant, Convention, Equipement
from services.conventions.schemas import AvenantIn, SignataireIn
from services.conventions.service import (
    add_months,
    dates_problems,
    max_date_fin,
    new_signataire,
    record,
    set_copil,
    signatory_organisations,
    socle_manquant,
)
from services.conventions.service_lifecycle import new_equipement, save_version
from services.conventions.service_views import copil_of, equipement_json

# Circulaire C-2026-090 (001): "il est recommandé de renégocier les CTG arrivant à
# échéance au 31 décembre 2025. En cas de blocage partenarial, un avenant de prolongation
# d'un an pourra être conclu avant le 31/12/2025 sans procéder à de nouveaux lissages."
PROLONGATION_ECHEANCE = dt.date(2025, 12, 31)
PROLONGATION_ADMISE = (
    "La circulaire C-2026-090 n'admet qu'une prolongation d'un an par avenant : pour une "
    "CTG arrivant à échéance au 31 décembre 2025, par un avenant conclu avant cette date, "
    "en cas de blocage partenarial. Au-delà, la CTG se renouvelle (reconduction expresse)."
)
# Annexes an avenant's changes touch (003: annexe 2 équipements, annexe 4 pilotage).
ANNEXE_EQUIPEMENTS = "Annexe 2"
ANNEXE_PILOTAGE = "Annexe 4"


def _require_signed(convention: Convention, date_avenant: dt.date, today: dt.date) -> None:
    """An avenant amends a signed convention that was still running on its date (it may
    be recorded later: a CTG signed before the product comes with its avenants)."""
    if convention.statut == StatutConvention.en_preparation:
        raise Conflict("Avenant impossible : la convention n'est pas encore signée.")
    if convention.statut == StatutConvention.resiliee:
        raise Conflict("Avenant impossible : la convention est résiliée.")
    if date_avenant > today:
        # An avenant is recorded once signed.
        raise InvalidPayload(
            "La date de l'avenant ne peut pas être dans le futur.",
            errors=[{"pointer": "/date_avenant", "field": "date_avenant"}],
        )
    if convention.date_signature is not None and date_avenant < convention.date_signature:
        raise InvalidPayload(
            "La date de l'avenant précède la signature de la convention.",
            errors=[{"pointer": "/date_avenant", "field": "date_avenant"}],
        )
    if date_avenant > convention.date_fin:
        raise Conflict("Avenant impossible : la convention était échue à la date de l'avenant.")


def _prolonger(convention: Convention, data: AvenantIn, already_prolonged: bool) -> dt.date:
    """The new end date of a one-year prolongation, if the circular allows it."""
    if data.nouvelle_date_fin is not None:
        raise InvalidPayload(
            "Choisir une prolongation d'un an ou une nouvelle date de fin, pas les deux.",
            errors=[{"pointer": "/prolongation_un_an", "field": "prolongation_un_an"}],
        )
    if data.blocage_partenarial is None:
        raise InvalidPayload(
            "La prolongation d'un an se justifie par un blocage partenarial : le décrire.",
            errors=[{"pointer": "/blocage_partenarial", "field": "blocage_partenarial"}],
        )
    if already_prolonged:
        raise Conflict("La convention a déjà été prolongée d'un an par avenant.")
    if convention.date_fin != PROLONGATION_ECHEANCE:
        raise Conflict(
            f"{PROLONGATION_ADMISE} Cette CTG prend fin le {convention.date_fin.isoformat()}."
        )
    if data.date_avenant >= PROLONGATION_ECHEANCE:
        raise Conflict(
            f"{PROLONGATION_ADMISE} Cet avenant est daté du {data.date_avenant.isoformat()}."
        )
    return add_months(convention.date_fin, 12)


def _check_dates(debut: dt.date, fin: dt.date, extra_years: int) -> None:
    """Art. 10 (end at most 31 December N+4) and the circular's one extra year: past them
    an avenant would prolong the CTG as nothing allows (409); inverted dates are 422."""
    problems = dates_problems(debut, fin, extra_years=extra_years)
    if any(p["code"] == "duree_maximale" for p in problems):
        limit = max_date_fin(debut, extra_years)
        raise Conflict(
            f"{PROLONGATION_ADMISE} La date de fin ne peut dépasser le {limit.isoformat()}.",
            extra={"date_fin_maximale": limit.isoformat()},
        )
    if problems:
        raise InvalidPayload("Dates de la convention invalides.", errors=problems)


async def _annexe_2(
    session: AsyncSession,
    convention: Convention,
    data: AvenantIn,
    parties: set[uuid.UUID],
    concerned: set[uuid.UUID],
) -> tuple[list[Equipement], list[Equipement]]:
    """The équipements the avenant adds and removes, checked: the circular (001) wants
    "uniquement l'annexe des signataires concernés" to change."""
    current = {e.id: e for e in await repo.equipements_of(session, convention.id)}
    errors: list[dict[str, object]] = []
    not_concerned = "L'avenant ne concerne pas ce signataire : son annexe ne peut pas changer."
    removed: list[Equipement] = []
    for i, equipement_id in enumerate(dict.fromkeys(data.equipements_retires)):
        found = current.get(equipement_id)
        pointer = f"/equipements_retires/{i}"
        if found is None:
            errors.append({"pointer": pointer, "message": "Équipement inconnu de l'Annexe 2."})
        elif found.organisation_id not in concerned:
            errors.append({"pointer": pointer, "message": not_concerned})
        else:
            removed.append(found)
    added: list[Equipement] = []
    for i, wanted in enumerate(data.equipements_ajoutes):
        pointer = f"/equipements_ajoutes/{i}/organisation_id"
        if wanted.organisation_id not in parties:
            message = "L'Annexe 2 liste les équipements d'un signataire de la convention."
            errors.append({"pointer": pointer, "message": message})
        elif wanted.organisation_id not in concerned:
            errors.append({"pointer": pointer, "message": not_concerned})
        else:
            added.append(new_equipement(convention.id, wanted))
    if errors:
        raise InvalidPayload("Annexe 2 : modifications invalides.", errors=errors)
    return added, removed


async def add_avenant(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    data: AvenantIn,
    today: dt.date,
) -> Avenant:
    """003 art. 11: "Toute modification fera l'objet d'un avenant par les parties. Cet
    avenant devra notamment préciser toutes les modifications apportées à la convention
    d'origine ainsi qu'à ses annexes." What it changed is kept, before and after."""
    _require_signed(convention, data.date_avenant, today)
    before = CONVENTION.snapshot(convention)
    previous = await repo.avenants_of(session, convention.id)
    modifications: dict[str, object] = {}
    articles = list(dict.fromkeys(data.articles_modifies))
    debut, fin = convention.date_debut, convention.date_fin
    already_prolonged = any(a.modifications.get("prolongation_un_an") for a in previous)
    if data.prolongation_un_an:
        fin = _prolonger(convention, data, already_prolonged)
        modifications["prolongation_un_an"] = True
        modifications["blocage_partenarial"] = data.blocage_partenarial
    elif data.blocage_partenarial is not None:
        raise InvalidPayload(
            "Un blocage partenarial ne justifie qu'une prolongation d'un an (prolongation_un_an).",
            errors=[{"pointer": "/blocage_partenarial", "field": "blocage_partenarial"}],
        )
    if data.nouvelle_date_fin is not None:
        fin = data.nouvelle_date_fin
    if data.nouvelle_date_debut is not None:
        debut = data.nouvelle_date_debut
    if (debut, fin) != (convention.date_debut, convention.date_fin):
        _check_dates(debut, fin, 1 if (already_prolonged or data.prolongation_un_an) else 0)
        modifications["dates"] = {
            "avant": [convention.date_debut.isoformat(), convention.date_fin.isoformat()],
            "apres": [debut.isoformat(), fin.isoformat()],
        }
    if data.thematiques is not None:
        values = [t.value for t in dict.fromkeys(data.thematiques)]
        # A CTG recorded without the whole socle keeps what it had; none may lose it.
        removed_socle = [t for t in socle_manquant(values) if t in convention.thematiques]
        if removed_socle:
            raise Conflict(
                "Un avenant ne peut pas retirer une thématique du socle : "
                + ", ".join(removed_socle)
            )
        modifications["thematiques"] = {"avant": list(convention.thematiques), "apres": values}
        convention.thematiques = values
    if data.objectifs_partages is not None:
        modifications["objectifs_partages"] = {
            "avant": list(convention.objectifs_partages),
            "apres": list(data.objectifs_partages),
        }
        convention.objectifs_partages = list(data.objectifs_partages)
    current = await repo.signataires_of_convention(session, convention.id)
    current_ids = {s.organisation_id for s in current}
    added: list[SignataireIn] = list(data.ajout_signataires)
    if added:
        await signatory_organisations(session, added, "/ajout_signataires")
        dup = [str(s.organisation_id) for s in added if s.organisation_id in current_ids]
        if dup:
            raise Conflict("Organisation déjà signataire : " + ", ".join(dup))
    parties = current_ids | {s.organisation_id for s in added}
    concerned = list(dict.fromkeys(data.signataires_concernes)) or sorted(parties)
    unknown = [str(o) for o in concerned if o not in parties]
    if unknown:
        raise InvalidPayload(
            "Signataires concernés inconnus de la convention.",
            errors=[{"pointer": "/signataires_concernes", "field": "signataires_concernes"}],
            extra={"inconnus": unknown},
        )
    equipements_added, equipements_removed = await _annexe_2(
        session, convention, data, parties, set(concerned)
    )
    if equipements_added or equipements_removed:
        modifications["equipements"] = {
            "ajoutes": [equipement_json(e) for e in equipements_added],
            "retires": [equipement_json(e) for e in equipements_removed],
        }
        articles.append(ANNEXE_EQUIPEMENTS)
    if data.copil is not None:
        before = copil_of(convention).model_dump(mode="json")
        set_copil(convention, data.copil)
        modifications["copil"] = {
            "avant": before,
            "apres": copil_of(convention).model_dump(mode="json"),
        }
        articles.append(ANNEXE_PILOTAGE)
    if not modifications and not added and not articles:
        raise InvalidPayload(
            "Un avenant doit modifier au moins un article, une annexe ou un élément.",
            errors=[{"pointer": "/articles_modifies", "field": "articles_modifies"}],
        )
    numero = (previous[-1].numero if previous else 0) + 1
    if added:
        # A signatory joining by avenant signs that avenant.
        rows = [
            new_signataire(
                convention.id,
                s.model_copy(update={"date_signature": s.date_signature or data.date_avenant}),
                len(current) + i,
            )
            for i, s in enumerate(added)
        ]
        for row in rows:
            row.avenant_numero = numero
        await repo.add(session, *rows)
        modifications["ajout_signataires"] = [str(s.organisation_id) for s in added]
    for equipement in equipements_removed:
        await repo.delete(session, equipement)
    if equipements_added:
        await repo.add(session, *equipements_added)
    convention.date_debut, convention.date_fin = debut, fin
    avenant = Avenant(
        id=uuid.uuid4(),
        convention_id=convention.id,
        numero=numero,
        date_avenant=data.date_avenant,
        objet=data.objet,
        articles_modifies=list(dict.fromkeys(articles)),
        signataires_concernes=concerned,
        modifications=modifications,
        auteur=principal.subject,
        auteur_nom=principal.name,
    )
    await repo.add(session, avenant)
    convention.numero_version = convention.numero_version + 1
    await record(
        session,
        convention,
        "avenant",
        principal,
        before=before,
        motif=data.objet,
        details={"numero": numero, "modifications": modifications},
    )
    await save_version(session, convention, avenant.id)
    return avenant
