"""Domain rules of the plan d'actions: axes, actions (fiches-action); indicateurs in
`service_indicateurs`.

Rights: read = whoever may read the convention (scope in SQL, 404 outside it);
write = Caf agents of the convention's Caf, or contributeurs/referents of a porteur
collectivité for the actions it carries (403 when readable but not writable).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.json_response import JsonObject, ResponseFields
from kernel.principal import Principal, Role
from services.actions import repository as repo
from services.actions.dependencies import ActionsContext
from services.actions.history import AXE, HISTORY, action_kind
from services.actions.models import Action, Axe, Indicateur, ValeurIndicateur
from services.actions.rules import (
    AVERTISSEMENT_VERBE,
    FICHE_LABELS,
    MEME_AXE_QUE_LE_PARENT,
    en_retard,
    progression,
    refus_rattachement,
    titre_commence_par_un_verbe,
)
from services.actions.schemas import (
    ActionDetail,
    ActionIn,
    ActionPatch,
    ActionSummary,
    AxeIn,
    AxeOut,
    AxePatch,
    ChampFiche,
    IndicateurOut,
    Ordre,
    ProgressionOut,
    ValeurOut,
)

# --- rights ----------------------------------------------------------------------------


def is_caf_agent(principal: Principal, convention: ConventionRef) -> bool:
    return convention.caf_id in principal.caf_write_ids()


def may_write_action(
    principal: Principal, convention: ConventionRef, porteur_ids: Iterable[uuid.UUID]
) -> bool:
    return is_caf_agent(principal, convention) or bool(
        set(porteur_ids) & principal.collectivite_write_ids()
    )


def require_caf_agent(principal: Principal, convention: ConventionRef, what: str) -> None:
    if not is_caf_agent(principal, convention):
        raise Forbidden(f"Seul un agent de la Caf de la convention peut {what}.")


def collectivites_signataires(convention: ConventionRef) -> set[uuid.UUID]:
    return set(convention.signataire_ids) - {convention.caf_id}


def is_party_writer(principal: Principal, convention: ConventionRef) -> bool:
    """A Caf agent of the convention, or a write role (contributeur, referent) of one of
    its signatory collectivités: the persons art. 9 (003) designates to follow the CTG."""
    return is_caf_agent(principal, convention) or not principal.collectivite_write_ids().isdisjoint(
        collectivites_signataires(convention)
    )


def may_conduct_evaluation(principal: Principal, convention: ConventionRef) -> bool:
    """Art. 9 (003): "Sous la responsabilité du COPIL CTG et avec l'aide de la Caf si
    nécessaire, les chargés de coopération ou les personnes désignées pour suivre la CTG
    au sein de la collectivité, conduisent l'évaluation … en concevant les indicateurs de
    suivi": Caf agents and the write roles of a signatory collectivité draft the bilans
    and the indicators of the convention and of its axes."""
    return is_party_writer(principal, convention)


def require_evaluation_writer(principal: Principal, convention: ConventionRef, what: str) -> None:
    if not may_conduct_evaluation(principal, convention):
        raise Forbidden(
            "Seuls les agents de la Caf et les collectivités signataires (contributeurs, "
            f"référents) peuvent {what}."
        )


def require_bilan_adopter(principal: Principal, convention: ConventionRef) -> None:
    """The COPIL adopts a bilan (art. 9: "Sous la responsabilité du COPIL CTG"); its
    adoption is entered by a Caf agent or a referent of a signatory collectivité (the
    COPIL is "composé, à parité, de représentants de la Caf et de la commune", art. 6)."""
    referent = not principal.collectivite_ids([Role.referent]).isdisjoint(
        collectivites_signataires(convention)
    )
    if not (referent or is_caf_agent(principal, convention)):
        raise Forbidden(
            "Seuls un agent de la Caf ou le référent d'une collectivité signataire saisissent "
            "l'adoption d'un bilan par le COPIL."
        )


def require_action_writer(principal: Principal, convention: ConventionRef, action: Action) -> None:
    if not may_write_action(principal, convention, action.porteur_ids):
        raise Forbidden(
            "Seuls les agents de la Caf et les collectivités porteuses de l'action "
            "peuvent la modifier."
        )


class Travail(StrEnum):
    """What a write does, as far as a convention that has ended still accepts it."""

    nouveau = "nouveau"  # a new axe, action or suivi
    plan = "plan"  # change the plan: actions, their indicators and values
    suivi = "suivi"  # edit, submit or correct a suivi
    verification = "vérification"  # validate or send back a submitted suivi
    evaluation = "évaluation"  # the bilans and their CDSF agreements


# What a résiliée or échue convention still accepts, and from whom (everything, from
# anyone with the right, while it runs). Art. 12 (003): "La résiliation de la présente
# convention entraînera l'arrêt immédiat des engagements des parties".
_APRES_LA_FIN: dict[Travail, tuple[str, str]] = {
    Travail.nouveau: ("personne", "elle n'accepte plus de nouvelles actions ni de suivis."),
    Travail.suivi: (
        "personne",
        "ses suivis ne se saisissent, ne se soumettent ni ne se corrigent plus.",
    ),
    Travail.plan: ("caf", "seule la Caf modifie encore ses actions et leurs indicateurs."),
    Travail.verification: ("caf", "seule la Caf valide ou renvoie encore les suivis soumis."),
    Travail.evaluation: ("tous", ""),
}


def require_convention_accepts(
    ctx: ActionsContext, principal: Principal, convention: ConventionRef, travail: Travail
) -> None:
    """The one place saying what a convention accepts once it is résiliée (from the
    résiliation's date of effect) or échue: no new work and no more reporting; the Caf
    still validates or sends back the suivis submitted before and keeps the plan right
    for the evaluation; the bilans (the bilan final above all) go on. 409 otherwise."""
    today = ctx.today()
    if convention.accepts_new_work(today):
        return
    qui, refus = _APRES_LA_FIN[travail]
    if qui == "tous" or (qui == "caf" and is_caf_agent(principal, convention)):
        return
    etat = convention.etat(today).value
    raise Conflict(
        f"La convention est {etat} : {refus}",
        extra={"code": "convention-close", "etat_convention": etat},
    )


async def writable_convention(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> ConventionRef:
    """Fresh state from the conventions service, then scope (404), then state (409).

    Scope is checked once, on the fresh state in hand: a check before the refresh would
    cost a query (and, for a convention the replica lacks, a second fetch) to reach the
    same 404."""
    convention = await ctx.fresh_ref(session, convention_id)
    if not convention.readable_by(principal):
        raise NotFound("Convention introuvable.")
    return convention


# --- views -----------------------------------------------------------------------------


def axe_out(axe: Axe | repo.AxeRow) -> AxeOut:
    """From an axe, or a row of the list."""
    out = AxeOut.model_validate(axe)
    if not titre_commence_par_un_verbe(out.titre):
        out.avertissements = [AVERTISSEMENT_VERBE]
    return out


ACTION_SUMMARY = ResponseFields(ActionSummary, repo.ActionListed, derived=("en_retard",))


def action_summary_item(row: repo.ActionListed, today: dt.date) -> JsonObject:
    """An ActionSummary of the list (written by kernel.json_response)."""
    return ACTION_SUMMARY(row, en_retard=en_retard(row.statut, row.date_echeance, today))


def action_summary(action: Action, today: dt.date, noms: Mapping[uuid.UUID, str]) -> ActionSummary:
    """`noms`: the names of the convention's organisations (`ConventionRef.noms`)."""
    return ActionSummary(
        id=action.id,
        convention_id=action.convention_id,
        axe_id=action.axe_id,
        parent_id=action.parent_id,
        position=action.position,
        reference=action.reference,
        titre=action.titre,
        statut=action.statut,
        en_retard=en_retard(action.statut, action.date_echeance, today),
        date_echeance=action.date_echeance,
        porteur_ids=list(action.porteur_ids),
        porteur_noms=[noms.get(p) for p in action.porteur_ids],
        version=action.version,
    )


def action_detail(
    action: Action, children: list[Action], today: dt.date, noms: Mapping[uuid.UUID, str]
) -> ActionDetail:
    summary = action_summary(action, today, noms)
    fiche = [
        ChampFiche(champ=name, libelle=label, valeur=getattr(action, name))
        for name, label in FICHE_LABELS.items()
    ]
    return ActionDetail(
        **summary.model_dump(),
        thematique=action.thematique,
        date_debut=action.date_debut,
        priorite=action.priorite,
        referent=action.referent,
        **{name: getattr(action, name) for name in FICHE_LABELS},
        fiche=fiche,
        sous_actions=[action_summary(c, today, noms) for c in children],
        created_at=action.created_at,
        updated_at=action.updated_at,
    )


def indicateur_out(
    indicateur: Indicateur | repo.IndicateurRow, valeurs: Sequence[ValeurIndicateur]
) -> IndicateurOut:
    out = IndicateurOut.model_validate(indicateur)
    out.valeurs = [ValeurOut.model_validate(v) for v in valeurs]
    # From the values the read loaded anyway: a list stays one query for its values.
    p = progression([(v.periode, v.valeur) for v in valeurs], indicateur.cibles)
    if p is not None:
        out.progression = ProgressionOut(
            periode=p.periode,
            derniere_valeur=p.valeur,
            cible=p.cible,
            pourcentage_de_la_cible=p.pourcentage,
            tendance=p.tendance,
        )
    return out


# --- axes ------------------------------------------------------------------------------


async def create_axe(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    data: AxeIn,
) -> Axe:
    convention = await writable_convention(ctx, session, principal, convention_id)
    require_caf_agent(principal, convention, "structurer le plan d'actions")
    require_convention_accepts(ctx, principal, convention, Travail.nouveau)
    return await add_axe(session, principal, convention, data)


async def add_axe(
    session: AsyncSession, principal: Principal, convention: ConventionRef, data: AxeIn
) -> Axe:
    """A new axe at the end of the plan (its writer and the convention's state checked):
    the API's creation and the import's, with the same history."""
    convention_id = convention.id
    axe = Axe(
        id=uuid.uuid4(),
        convention_id=convention_id,
        titre=data.titre,
        description=data.description,
        position=await repo.next_axe_position(session, convention_id),
        version=1,
    )
    session.add(axe)
    await session.flush()
    await HISTORY.record(session, principal, AXE, axe, None)
    return axe


async def load_axe(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Axe, ConventionRef]:
    found = await repo.scoped(session, Axe, axe_id, principal, for_update=for_update)
    if found is None or found[0].convention_id != convention_id:
        raise NotFound("Axe introuvable.")
    return found


async def update_axe(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    data: AxePatch,
) -> Axe:
    axe, convention = await load_axe(session, principal, convention_id, axe_id, for_update=True)
    require_caf_agent(principal, convention, "modifier un axe")
    preconditions.check(etag_for(axe.id, axe.version))
    before = AXE.snapshot(axe)
    for name in data.model_fields_set:
        value = getattr(data, name)
        if name == "titre" and value is None:
            raise InvalidPayload("Le titre ne peut pas être vide.", errors=[{"field": "titre"}])
        setattr(axe, name, value)
    await repo.touch(session, axe)
    await session.flush()
    await HISTORY.record(session, principal, AXE, axe, before)
    return axe


async def delete_axe(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
) -> None:
    axe, convention = await load_axe(session, principal, convention_id, axe_id, for_update=True)
    require_caf_agent(principal, convention, "supprimer un axe")
    preconditions.check(etag_for(axe.id, axe.version))
    if await repo.count_actions_in_axe(session, axe.id):
        raise Conflict("L'axe contient des actions : déplacez-les ou supprimez-les d'abord.")
    if await repo.count_indicateurs_of_axe(session, axe.id):
        raise Conflict(
            "L'axe porte des indicateurs : rattachez-les à la convention ou supprimez-les d'abord."
        )
    before = AXE.snapshot(axe)
    await repo.delete_axe(session, axe)
    await HISTORY.record(session, principal, AXE, axe, before, deleted=True)


def _check_order(current: list[uuid.UUID], wanted: list[uuid.UUID], what: str) -> None:
    if len(set(wanted)) != len(wanted) or set(wanted) != set(current):
        raise Conflict(
            f"L'ordre doit citer chacun des {what} exactement une fois "
            "(la liste a peut-être changé depuis votre lecture).",
            extra={"attendus": [str(i) for i in current]},
        )


async def reorder_axes(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    ordre: Ordre,
) -> list[Axe]:
    convention = await ctx.replica.readable(session, convention_id, principal)
    require_caf_agent(principal, convention, "réordonner les axes")
    axes = await repo.axes_for_update(session, convention_id)
    _check_order([a.id for a in axes], ordre.ids, "axes")
    by_id = {a.id: a for a in axes}
    for position, axe_id in enumerate(ordre.ids, start=1):
        axe = by_id[axe_id]
        if axe.position != position:
            before = AXE.snapshot(axe)
            axe.position = position
            await repo.touch(session, axe)
            await HISTORY.record(session, principal, AXE, axe, before)
    await session.flush()
    return [by_id[i] for i in ordre.ids]


async def reorder_actions(
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    ordre: Ordre,
) -> list[Action]:
    axe, convention = await load_axe(session, principal, convention_id, axe_id)
    require_caf_agent(principal, convention, "réordonner les actions")
    actions = await repo.actions_of_axe_for_update(session, axe.id)
    _check_order([a.id for a in actions], ordre.ids, "actions de l'axe")
    by_id = {a.id: a for a in actions}
    for position, action_id in enumerate(ordre.ids, start=1):
        action = by_id[action_id]
        if action.position != position:
            kind = action_kind(action.parent_id)
            before = kind.snapshot(action)
            action.position = position
            await repo.touch(session, action)
            await HISTORY.record(session, principal, kind, action, before)
    await session.flush()
    return [by_id[i] for i in ordre.ids]


# --- actions ---------------------------------------------------------------------------


def _check_porteurs(convention: ConventionRef, porteur_ids: list[uuid.UUID]) -> None:
    signataires = set(convention.signataire_ids) - {convention.caf_id}
    strangers = [p for p in porteur_ids if p not in signataires]
    if strangers:
        raise InvalidPayload(
            "Les porteurs d'une action sont des collectivités signataires de la convention.",
            errors=[
                {"field": "porteur_ids", "message": f"{p} ne signe pas la convention."}
                for p in strangers
            ],
        )


async def create_action(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    data: ActionIn,
) -> Action:
    convention = await writable_convention(ctx, session, principal, convention_id)
    return await add_action(ctx, session, principal, convention, data)


async def require_free_reference(
    session: AsyncSession,
    convention_id: uuid.UUID,
    reference: str | None,
    action_id: uuid.UUID | None,
) -> None:
    """A référence names one action of its convention (409 when another has it)."""
    if reference is None:
        return
    other = await repo.action_with_reference(session, convention_id, reference)
    if other is not None and other != action_id:
        raise Conflict(
            f"La référence « {reference} » est déjà celle d'une autre action de la convention.",
            errors=[{"field": "reference", "message": "Référence déjà utilisée."}],
            extra={"code": "reference-deja-utilisee", "action_id": str(other)},
        )


async def _parent(
    session: AsyncSession,
    convention_id: uuid.UUID,
    parent_id: uuid.UUID,
    action: Action | None,
) -> Action:
    """The action `action` (None: a new one) may become a sous-action of: in the same
    convention (422), and one level only (`rules.refus_rattachement`, 409)."""
    parent = await repo.action_in_convention(session, parent_id, convention_id)
    if parent is None:
        raise InvalidPayload(
            "Action parente inconnue dans cette convention.", errors=[{"field": "parent_id"}]
        )
    has_children = action is not None and bool(await repo.children_ids(session, action.id))
    refus = refus_rattachement(
        action.id if action is not None else None, parent.id, parent.parent_id, has_children
    )
    if refus is not None:
        raise Conflict(refus, errors=[{"field": "parent_id", "message": refus}])
    return parent


async def add_action(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention: ConventionRef,
    data: ActionIn,
) -> Action:
    """A new action in `convention` (fresh state, in scope): the API's creation and the
    import's, with the same checks and history."""
    if not may_write_action(principal, convention, data.porteur_ids):
        raise Forbidden(
            "Seuls les agents de la Caf, ou une collectivité porteuse de l'action, "
            "peuvent créer une action."
        )
    require_convention_accepts(ctx, principal, convention, Travail.nouveau)
    _check_porteurs(convention, data.porteur_ids)
    convention_id = convention.id
    axe = await repo.axe_in_convention(session, data.axe_id, convention_id)
    if axe is None:
        raise InvalidPayload("Axe inconnu dans cette convention.", errors=[{"field": "axe_id"}])
    if data.parent_id is not None:
        parent = await _parent(session, convention_id, data.parent_id, None)
        if parent.axe_id != axe.id:
            raise Conflict(MEME_AXE_QUE_LE_PARENT)
    await require_free_reference(session, convention_id, data.reference, None)
    values = data.model_dump(exclude={"axe_id", "parent_id", "porteur_ids"})
    action = Action(
        id=uuid.uuid4(),
        convention_id=convention_id,
        axe_id=axe.id,
        parent_id=data.parent_id,
        porteur_ids=list(dict.fromkeys(data.porteur_ids)),
        position=await repo.next_action_position(session, axe.id),
        version=1,
        **{k: (v.value if hasattr(v, "value") else v) for k, v in values.items()},
    )
    session.add(action)
    await session.flush()
    await HISTORY.record(session, principal, action_kind(action.parent_id), action, None)
    return action


async def load_action(
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    *,
    for_update: bool = False,
    for_share: bool = False,
) -> tuple[Action, ConventionRef]:
    found = await repo.scoped(
        session, Action, action_id, principal, for_update=for_update, for_share=for_share
    )
    if found is None:
        raise NotFound("Action introuvable.")
    return found


async def update_action(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    action_id: uuid.UUID,
    data: ActionPatch,
) -> Action:
    action, convention = await load_action(session, principal, action_id, for_update=True)
    require_action_writer(principal, convention, action)
    require_convention_accepts(ctx, principal, convention, Travail.plan)
    preconditions.check(etag_for(action.id, action.version))
    return await change_action(session, principal, convention, action, data)


async def change_action(
    session: AsyncSession,
    principal: Principal,
    convention: ConventionRef,
    action: Action,
    data: ActionPatch,
) -> Action:
    """The changes `data` sends to `action` (locked, its writer and the convention's
    state checked): the API's update and the import's, with the same history."""
    kind = action_kind(action.parent_id)
    before = kind.snapshot(action)
    changes = {name: getattr(data, name) for name in data.model_fields_set}
    for required in ("titre", "statut", "porteur_ids", "axe_id"):
        if required in changes and changes[required] is None:
            raise InvalidPayload(
                f"« {required} » ne peut pas être vide.", errors=[{"field": required}]
            )
    if "porteur_ids" in changes:
        _check_porteurs(convention, changes["porteur_ids"])
        # A collectivité may not hand over an action it would no longer carry.
        if not may_write_action(principal, convention, changes["porteur_ids"]):
            raise Forbidden("Vous ne pouvez pas retirer votre collectivité des porteurs.")
        changes["porteur_ids"] = list(dict.fromkeys(changes["porteur_ids"]))
    parent_id = changes.get("parent_id", action.parent_id)
    if parent_id != action.parent_id:
        require_caf_agent(principal, convention, "rattacher une action à une autre")
        if parent_id is not None:
            parent = await _parent(session, action.convention_id, parent_id, action)
            if changes.get("axe_id", parent.axe_id) != parent.axe_id:
                raise Conflict(MEME_AXE_QUE_LE_PARENT, errors=[{"field": "axe_id"}])
            changes["axe_id"] = parent.axe_id
    if "axe_id" in changes and changes["axe_id"] != action.axe_id:
        require_caf_agent(principal, convention, "déplacer une action vers un autre axe")
        target = await repo.axe_in_convention(session, changes["axe_id"], action.convention_id)
        if target is None:
            raise InvalidPayload("Axe inconnu dans cette convention.", errors=[{"field": "axe_id"}])
        if action.parent_id is not None and parent_id == action.parent_id:
            raise Conflict("Une sous-action suit son action : déplacez l'action parente.")
        position = await repo.next_action_position(session, target.id)
        action.position = position
        for child in await repo.sous_actions(session, action.id):
            position += 1
            child_before = action_kind(child.parent_id).snapshot(child)
            child.axe_id = target.id
            child.position = position
            await repo.touch(session, child)
            await HISTORY.record(
                session, principal, action_kind(child.parent_id), child, child_before
            )
    if "reference" in changes and changes["reference"] != action.reference:
        await require_free_reference(session, action.convention_id, changes["reference"], action.id)
    start = changes.get("date_debut", action.date_debut)
    end = changes.get("date_echeance", action.date_echeance)
    if start and end and end < start:
        raise InvalidPayload(
            "La date d'échéance précède la date de début.", errors=[{"field": "date_echeance"}]
        )
    for name, value in changes.items():
        setattr(action, name, value.value if hasattr(value, "value") else value)
    await repo.touch(session, action)
    await session.flush()
    # Recorded as what it is now (a sous-action under its new parent, or an action).
    await HISTORY.record(session, principal, action_kind(action.parent_id), action, before)
    return action


async def delete_action(
    session: AsyncSession, principal: Principal, preconditions: Preconditions, action_id: uuid.UUID
) -> None:
    action, convention = await load_action(session, principal, action_id, for_update=True)
    require_caf_agent(principal, convention, "supprimer une action")
    preconditions.check(etag_for(action.id, action.version))
    if await repo.children_ids(session, action.id):
        raise Conflict("L'action a des sous-actions : supprimez-les d'abord.")
    if await repo.suivis_not_draft(session, action.id):
        raise Conflict(
            "L'action a des suivis soumis ou validés : passez-la « abandonnée » plutôt que "
            "de la supprimer."
        )
    kind = action_kind(action.parent_id)
    before = kind.snapshot(action)
    await repo.delete_action(session, action)
    await HISTORY.record(session, principal, kind, action, before, deleted=True)
