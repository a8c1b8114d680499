"""Quarterly follow-up: suivis and their workflow, campaigns, "my work".

Workflow: brouillon → soumis (a writer of the action) → validé | à compléter (Caf
agent) → soumis again. A validated suivi never changes: a correction opens a new
revision (with its reason) that goes through the workflow again. Every creation,
change and transition is kept in ``suivi_evenements`` with the content it produced.

A suivi's writer locks its action's row in share mode before anything else, before the
change sequence's lock that every writer holds until it commits. A change of the
action's status (to or from abandonnée) moves its suivis in or out of the campaign
counters (the triggers of migration 0006, which take the same lock): it waits for the
suivi's writer, or the writer for it, never each for the other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, InvalidPayload, NotFound, PreconditionFailed
from kernel.etag import Preconditions, etag_for
from kernel.history import Snapshot
from kernel.json_response import JsonObject, ResponseFields
from kernel.principal import Principal
from services.actions import events
from services.actions import repository as repo
from services.actions import repository_suivis as srepo
from services.actions.dependencies import ActionsContext
from services.actions.history import HISTORY, SUIVI, VALEUR
from services.actions.models import Action, Campagne, Suivi, SuiviEvenement
from services.actions.repository_suivis import CampagneConventionLigne, CompteursRow
from services.actions.rules import (
    EtatSuivi,
    EvenementSuivi,
    Trimestre,
    Unite,
    campagne_courante,
    fin_effective,
    probleme_valeur,
    trimestres_actifs,
)
from services.actions.schemas import (
    ActionRef,
    AlerteOut,
    ARenseigner,
    ARenseignerPage,
    CampagneCafLigne,
    CampagneConventionOut,
    CampagneLigne,
    Compteurs,
    Correction,
    SuiviIn,
    SuiviPatch,
    SuiviSummary,
    ValeurSuiviIn,
)
from services.actions.service import (
    Travail,
    load_action,
    require_action_writer,
    require_caf_agent,
    require_convention_accepts,
)

CONTENU = (
    "statut_action",
    "avancement",
    "realisations",
    "difficultes",
    "alerte",
    "alerte_message",
    "valeurs",
)


def contenu(suivi: Suivi) -> dict[str, object]:
    return {name: getattr(suivi, name) for name in CONTENU}


def _event(
    suivi: Suivi,
    evenement: EvenementSuivi,
    principal: Principal,
    avant: str | None,
    commentaire: str | None = None,
) -> SuiviEvenement:
    return SuiviEvenement(
        suivi_id=suivi.id,
        revision=suivi.revision,
        evenement=evenement.value,
        etat_avant=avant,
        etat_apres=suivi.etat,
        commentaire=commentaire,
        auteur=principal.subject,
        auteur_nom=principal.name,
        contenu=contenu(suivi),
    )


async def _record(
    session: AsyncSession,
    suivi: Suivi,
    evenement: EvenementSuivi,
    principal: Principal,
    avant: str | None,
    before: Snapshot | None,
    commentaire: str | None = None,
) -> None:
    """A step of the suivi: its own record (`suivi_evenements`, with the content), and
    the plan's history (field by field, in the convention's feed)."""
    session.add(_event(suivi, evenement, principal, avant, commentaire))
    await HISTORY.record(
        session, principal, SUIVI, suivi, before, evenement=evenement.value, motif=commentaire
    )


def trimestre_de_convention(convention: ConventionRef, periode: str) -> Trimestre:
    """The quarter if the convention is in force during it; 409 otherwise."""
    t = Trimestre.parse(periode)
    fin = fin_effective(convention.date_fin, convention.date_effet_resiliation)
    if t not in trimestres_actifs(convention.date_debut, fin):
        raise Conflict(
            f"Aucune campagne {periode} pour cette convention : elle court du "
            f"{convention.date_debut:%d/%m/%Y} au {fin:%d/%m/%Y}.",
            extra={"code": "periode-hors-convention"},
        )
    return t


async def _valeurs(
    session: AsyncSession, action_id: uuid.UUID, valeurs: list[ValeurSuiviIn]
) -> list[dict[str, object]]:
    unites = await srepo.indicateur_ids_of(session, action_id)
    errors: list[dict[str, str]] = []
    seen: set[uuid.UUID] = set()
    for i, v in enumerate(valeurs):
        if v.indicateur_id not in unites:
            errors.append(
                {
                    "field": f"valeurs.{i}.indicateur_id",
                    "message": "Indicateur inconnu pour cette action.",
                }
            )
        elif v.indicateur_id in seen:
            errors.append(
                {"field": f"valeurs.{i}.indicateur_id", "message": "Indicateur cité deux fois."}
            )
        elif p := probleme_valeur(Unite(unites[v.indicateur_id]), v.valeur):
            errors.append({"field": f"valeurs.{i}.valeur", "message": p})
        seen.add(v.indicateur_id)
    if errors:
        raise InvalidPayload(
            "Valeurs d'indicateurs invalides : " + errors[0]["message"], errors=errors
        )
    return [v.model_dump(mode="json") for v in valeurs]


def _apply(suivi: Suivi, changes: dict[str, object]) -> None:
    for name, value in changes.items():
        setattr(suivi, name, value.value if hasattr(value, "value") else value)
    if suivi.alerte and not (suivi.alerte_message or "").strip():
        raise InvalidPayload(
            "Une alerte au COPIL doit porter un message.", errors=[{"field": "alerte_message"}]
        )
    if not suivi.alerte:
        suivi.alerte_message = None


async def create_suivi(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    data: SuiviIn,
) -> Suivi:
    action, _ = await load_action(session, principal, action_id, for_share=True)
    convention = await ctx.fresh_ref(session, action.convention_id)
    require_action_writer(principal, convention, action)
    require_convention_accepts(ctx, principal, convention, Travail.nouveau)
    trimestre_de_convention(convention, data.periode)
    if await srepo.suivi_of(session, action.id, data.periode) is not None:
        raise Conflict(f"Le suivi {data.periode} de cette action existe déjà : modifiez-le.")
    valeurs = await _valeurs(session, action.id, data.valeurs)
    suivi = Suivi(
        id=uuid.uuid4(),
        action_id=action.id,
        convention_id=action.convention_id,
        periode=data.periode,
        etat=EtatSuivi.brouillon.value,
        revision=1,
        auteur=principal.subject,
        auteur_nom=principal.name,
        version=1,
    )
    _apply(suivi, {**data.model_dump(exclude={"periode", "valeurs"}), "valeurs": valeurs})
    session.add(suivi)
    await session.flush()
    await _record(session, suivi, EvenementSuivi.creation, principal, None, None)
    await session.flush()
    return suivi


async def load_suivi(
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    periode: str,
    *,
    for_update: bool = False,
) -> tuple[Suivi, Action, ConventionRef]:
    """The suivi, its action and convention; to write it (`for_update`), the action's
    row locked in share mode first (see the module's docstring)."""
    action, convention = await load_action(session, principal, action_id, for_share=for_update)
    suivi = await srepo.suivi_of(session, action.id, periode, for_update=for_update)
    if suivi is None:
        raise NotFound(f"Pas de suivi {periode} pour cette action.")
    return suivi, action, convention


async def _changes(session: AsyncSession, suivi: Suivi, data: SuiviPatch) -> dict[str, object]:
    changes = {name: getattr(data, name) for name in data.model_fields_set if name != "motif"}
    for required in ("statut_action", "alerte", "valeurs"):
        if required in changes and changes[required] is None:
            raise InvalidPayload(
                f"« {required} » ne peut pas être vide.", errors=[{"field": required}]
            )
    if "valeurs" in changes:
        changes["valeurs"] = await _valeurs(session, suivi.action_id, data.valeurs or [])
    return changes


async def update_suivi(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    periode: str,
    data: SuiviPatch,
) -> Suivi:
    suivi, action, convention = await load_suivi(
        session, principal, action_id, periode, for_update=True
    )
    require_action_writer(principal, convention, action)
    require_convention_accepts(ctx, principal, convention, Travail.suivi)
    preconditions.check(etag_for(suivi.id, suivi.version))
    if suivi.etat == EtatSuivi.valide:
        raise Conflict(
            "Un suivi validé ne change plus : demandez une correction (nouvelle révision motivée).",
            extra={"code": "suivi-valide"},
        )
    if suivi.etat == EtatSuivi.soumis:
        raise Conflict("Le suivi est soumis : il attend la validation de la Caf.")
    snapshot = SUIVI.snapshot(suivi)
    _apply(suivi, await _changes(session, suivi, data))
    suivi.auteur = principal.subject
    suivi.auteur_nom = principal.name
    await repo.touch(session, suivi)
    await _record(session, suivi, EvenementSuivi.modification, principal, suivi.etat, snapshot)
    await session.flush()
    return suivi


@dataclass(frozen=True)
class Step:
    """A workflow transition: the states it leaves, the state it reaches, its event."""

    allowed_from: tuple[EtatSuivi, ...]
    to: EtatSuivi
    evenement: EvenementSuivi
    # Validation and send-back are the Caf's; any writer of the action submits.
    caf_only: bool


SOUMISSION = Step(
    (EtatSuivi.brouillon, EtatSuivi.a_completer),
    EtatSuivi.soumis,
    EvenementSuivi.soumission,
    caf_only=False,
)
VALIDATION = Step((EtatSuivi.soumis,), EtatSuivi.valide, EvenementSuivi.validation, caf_only=True)
RENVOI = Step((EtatSuivi.soumis,), EtatSuivi.a_completer, EvenementSuivi.renvoi, caf_only=True)


async def transition(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    periode: str,
    step: Step,
    commentaire: str | None = None,
) -> Suivi:
    suivi, action, convention = await load_suivi(
        session, principal, action_id, periode, for_update=True
    )
    if step.caf_only:
        require_caf_agent(principal, convention, "valider ou renvoyer un suivi")
    else:
        require_action_writer(principal, convention, action)
    travail = Travail.verification if step.caf_only else Travail.suivi
    require_convention_accepts(ctx, principal, convention, travail)
    preconditions.check(etag_for(suivi.id, suivi.version))
    if suivi.etat not in step.allowed_from:
        raise Conflict(
            f"Transition impossible : le suivi est « {suivi.etat} » "
            f"(attendu : {', '.join(e.value for e in step.allowed_from)}).",
            extra={"code": "transition-refusee", "etat": suivi.etat},
        )
    before = suivi.etat
    snapshot = SUIVI.snapshot(suivi)
    suivi.etat = step.to.value
    if step.to in (EtatSuivi.valide, EtatSuivi.a_completer):
        suivi.commentaire_validation = commentaire
    await repo.touch(session, suivi)
    await _record(session, suivi, step.evenement, principal, before, snapshot, commentaire)
    if step.to is EtatSuivi.valide:
        # Validated values become the indicators' values of the period (indicators
        # locked first, as a PUT of a value does), recorded as the validator's.
        valeurs = [ValeurSuiviIn.model_validate(v) for v in suivi.valeurs]
        await repo.bump_indicateurs(session, [v.indicateur_id for v in valeurs])
        for v in valeurs:
            existing = await repo.valeur_of(session, v.indicateur_id, suivi.periode)
            previous = None if existing is None else VALEUR.snapshot(existing)
            valeur = await repo.upsert_valeur(
                session,
                v.indicateur_id,
                suivi.periode,
                v.valeur,
                v.commentaire,
                v.source,
                suivi.auteur,
                suivi.auteur_nom,
            )
            await HISTORY.record(
                session,
                principal,
                VALEUR,
                valeur,
                previous,
                convention_id=suivi.convention_id,
                details={"suivi_id": str(suivi.id)},
            )
    await session.flush()
    await events.suivi_step(session, principal, convention, action, suivi, commentaire)
    return suivi


async def corriger(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    periode: str,
    data: Correction,
) -> Suivi:
    suivi, action, convention = await load_suivi(
        session, principal, action_id, periode, for_update=True
    )
    require_action_writer(principal, convention, action)
    require_convention_accepts(ctx, principal, convention, Travail.suivi)
    preconditions.check(etag_for(suivi.id, suivi.version))
    if suivi.etat != EtatSuivi.valide:
        raise Conflict("Seul un suivi validé se corrige ; celui-ci se modifie directement.")
    snapshot = SUIVI.snapshot(suivi)
    changes = await _changes(session, suivi, data)
    suivi.revision += 1
    suivi.etat = EtatSuivi.brouillon.value
    suivi.commentaire_validation = None
    suivi.auteur = principal.subject
    suivi.auteur_nom = principal.name
    _apply(suivi, changes)
    await repo.touch(session, suivi)
    await _record(
        session,
        suivi,
        EvenementSuivi.correction,
        principal,
        EtatSuivi.valide.value,
        snapshot,
        data.motif,
    )
    await session.flush()
    return suivi


async def historique(
    session: AsyncSession, principal: Principal, action_id: uuid.UUID, periode: str
) -> list[SuiviEvenement]:
    suivi, _, _ = await load_suivi(session, principal, action_id, periode)
    return await srepo.evenements(session, suivi.id)


# --- campaigns -------------------------------------------------------------------------


async def due_date(
    ctx: ActionsContext, session: AsyncSession, convention_id: uuid.UUID, t: Trimestre
) -> tuple[dt.date, Campagne | None]:
    """The campaign's due date, and its stored settings when it has some."""
    stored = await srepo.campagne(session, convention_id, str(t))
    if stored is not None:
        return stored.date_limite, stored
    return t.echeance_par_defaut(ctx.settings.campagne_delai_jours), None


async def list_campagnes(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> list[dict[str, object]]:
    convention = await ctx.replica.readable(session, convention_id, principal)
    stored = await srepo.campagnes_of(session, convention_id)
    today = ctx.today()
    fin = fin_effective(convention.date_fin, convention.date_effet_resiliation)
    out = []
    for t in trimestres_actifs(convention.date_debut, fin):
        due = stored.get(str(t), t.echeance_par_defaut(ctx.settings.campagne_delai_jours))
        out.append({"periode": str(t), "date_limite": due, "echue": due < today})
    return out


async def set_campagne(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    periode: str,
    date_limite: dt.date,
) -> tuple[Campagne, bool]:
    """Create or replace a campaign's settings (its due date); True when created."""
    convention = await ctx.replica.readable(session, convention_id, principal)
    require_caf_agent(principal, convention, "fixer l'échéance d'une campagne")
    t = trimestre_de_convention(convention, periode)
    stored = await srepo.campagne(session, convention_id, str(t), for_update=True)
    preconditions.check(etag_for(stored.id, stored.version) if stored is not None else None)
    if date_limite <= t.debut:
        raise InvalidPayload(
            "L'échéance d'une campagne suit le début du trimestre.",
            errors=[{"field": "date_limite"}],
        )
    if stored is None:
        created = await repo.insert_new(
            session, Campagne, convention_id=convention_id, periode=str(t), date_limite=date_limite
        )
        if created is None:
            raise PreconditionFailed(
                "L'échéance de cette campagne vient d'être fixée par ailleurs : rechargez-la "
                "puis recommencez."
            )
        return created, True
    stored.date_limite = date_limite
    stored.version += 1
    stored.updated_at = repo.utcnow()
    await session.flush()
    return stored, False


async def campagne_convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    periode: str,
) -> tuple[CampagneConventionOut, Campagne | None]:
    """The campaign view, and the campaign's stored settings (its ETag) if any."""
    convention = await ctx.replica.readable(session, convention_id, principal)
    t = Trimestre.parse(periode)
    fin = fin_effective(convention.date_fin, convention.date_effet_resiliation)
    if t not in trimestres_actifs(convention.date_debut, fin):
        raise NotFound(f"Aucune campagne {periode} : la convention ne court pas ce trimestre.")
    due, stored = await due_date(ctx, session, convention_id, t)
    today = ctx.today()
    echue = due < today
    compteurs = Compteurs()
    manquants: list[ActionRef] = []
    late: list[ActionRef] = []
    alertes: list[AlerteOut] = []
    for action_id, titre, etat, alerte, message in await srepo.campaign_rows(
        session, convention_id, str(t)
    ):
        compteurs.actions += 1
        ref_ = ActionRef(action_id=action_id, titre=titre)
        if etat is None:
            compteurs.manquant += 1
            manquants.append(ref_)
        else:
            key = EtatSuivi(etat).name  # the counter of that state
            setattr(compteurs, key, getattr(compteurs, key) + 1)
            if alerte:
                compteurs.alertes += 1
                alertes.append(
                    AlerteOut(action_id=action_id, titre=titre, message=message, etat=etat)
                )
        if echue and (etat is None or etat in srepo.A_FAIRE):
            compteurs.en_retard += 1
            late.append(ref_)
    out = CampagneConventionOut(
        convention_id=convention_id,
        periode=str(t),
        date_limite=due,
        echue=echue,
        compteurs=compteurs,
        manquants=manquants,
        en_retard=late,
        alertes=alertes,
    )
    return out, stored


SUIVI_SUMMARY = ResponseFields(SuiviSummary, srepo.SuiviRow)
COMPTEURS = ResponseFields(Compteurs, CompteursRow)
CONVENTION_LIGNE = ResponseFields(CampagneLigne, CampagneConventionLigne, derived=("compteurs",))
CAF_LIGNE = ResponseFields(CampagneCafLigne, srepo.CampagneCafLigne, derived=("compteurs",))


async def campagne_vue(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    periode: str,
    *,
    caf_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> JsonObject:
    """The `CampagneVue` (written by kernel.json_response): per convention of the
    caller's scope, or per Caf for national readers."""
    t = Trimestre.parse(periode)
    by_caf = principal.is_national and caf_id is None
    found, total = await srepo.campaign_view(
        session,
        principal,
        t,
        t.echeance_par_defaut(ctx.settings.campagne_delai_jours),
        ctx.today(),
        by_caf=by_caf,
        caf_id=caf_id,
        limit=limit,
        cursor=cursor,
    )
    lines: list[JsonObject] = []
    for row in found.rows:
        ligne = row.ligne
        if isinstance(ligne, CampagneConventionLigne):
            lines.append(CONVENTION_LIGNE(ligne, compteurs=COMPTEURS(ligne.compteurs)))
        elif ligne is not None:  # None: an empty page (the totals' row alone)
            lines.append(CAF_LIGNE(ligne, compteurs=COMPTEURS(ligne.compteurs)))
    return {
        "periode": str(t),
        "total": COMPTEURS(total),
        "conventions": None if by_caf else lines,
        "cafs": lines if by_caf else None,
        "next_cursor": found.next_cursor,
    }


async def actions_a_renseigner(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    periode: str | None,
    *,
    limit: int,
    cursor: str | None,
) -> ARenseignerPage:
    """A page of the caller's actions to fill in, and the campaign (quarter) meant."""
    delai = ctx.settings.campagne_delai_jours
    t = Trimestre.parse(periode) if periode else campagne_courante(ctx.today(), delai)
    found = await srepo.a_renseigner(
        session, principal, t, t.echeance_par_defaut(delai), limit=limit, cursor=cursor
    )
    items = [ARenseigner.model_validate(A_RENSEIGNER(r, periode=str(t))) for r in found.rows]
    return ARenseignerPage(items=items, next_cursor=found.next_cursor, periode=str(t))


A_RENSEIGNER = ResponseFields(ARenseigner, srepo.ARenseignerRow, derived=("periode",))
