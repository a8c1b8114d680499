"""Import of a plan d'actions: upload (dry run) → report → confirmed mapping → commit.

Who: the Caf's agents on a convention of their Caf (`rights.ImportWrite`), signed
conventions included: a commit adds and changes actions through the very functions the
API's own writes use (`service.add_axe`, `service.add_action`, `service.change_action`:
same checks, same history, same versions and change numbers). An import is its
author's alone (another person: 404) and is erased `IMPORT_TTL` after its upload.

The report's ETag names the import's version (file and mapping) and the plan it was
computed on: committing with an ETag read before someone changed the plan is refused
(412), so nobody commits a report they did not read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, InvalidPayload, NotFound, PayloadTooLarge
from kernel.etag import Preconditions, etag_for
from kernel.json_response import JsonObject
from kernel.principal import Principal
from kernel.tabular import CellValue, HeaderMapping, Sheet, TableRow, guess_mapping, read_table
from kernel.tabular.mapping import How, Match, normalise_header
from kernel.tabular.reader import MiB, column_name
from services.actions import imports, service
from services.actions.dependencies import ActionsContext
from services.actions.imports import (
    CHAMPS,
    EXPECTED,
    ActionExistante,
    AxeExistant,
    Essai,
    Operation,
    Organisation,
    Plan,
)
from services.actions.models import Action, Axe, ImportPlan
from services.actions.schemas import ActionIn, ActionPatch, AxeIn
from services.actions.schemas_imports import Colonne, Correspondance, RapportImport, Totaux

IMPORT_TTL = dt.timedelta(hours=24)
MAX_BYTES = 10 * MiB
ESSAI = "essai"
VALIDE = "validé"


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Le fichier dépasse {MAX_BYTES // MiB} Mio.", extra={"code": "fichier-trop-volumineux"}
    )


# --- the plan as it stands -------------------------------------------------------------


def empreinte(axes: Sequence[Axe], actions: Sequence[Action]) -> str:
    """The plan's state: every axe's and action's id and version."""
    digest = hashlib.sha256()
    versions = [(a.id, a.version) for a in axes] + [(a.id, a.version) for a in actions]
    for obj_id, version in sorted(versions, key=lambda v: str(v[0])):
        digest.update(f"{obj_id}.{version};".encode())
    return digest.hexdigest()


def import_etag(imp: ImportPlan, plan_empreinte: str) -> str:
    return etag_for(f"{imp.id}-{plan_empreinte[:16]}", imp.version)


async def plan_rows(
    session: AsyncSession, convention_id: uuid.UUID, *, for_update: bool
) -> tuple[list[Axe], list[Action]]:
    axes_stmt = select(Axe).where(Axe.convention_id == convention_id).order_by(Axe.position)
    actions_stmt = select(Action).where(Action.convention_id == convention_id)
    if for_update:
        axes_stmt = axes_stmt.with_for_update()
        actions_stmt = actions_stmt.with_for_update()
    axes = list((await session.execute(axes_stmt)).scalars().all())
    actions = list((await session.execute(actions_stmt)).scalars().all())
    return axes, actions


def _looks_like_codes(rows: Sequence[TableRow], column: int | None) -> bool:
    if column is None:
        return False
    for row in rows:
        cell = row.get(column)
        for part in imports.SEPARATEURS.split(str(cell or "")):
            compact = "".join(part.split()).upper()
            if imports.SIREN.match(compact) or imports.INSEE.match(compact):
                return True
    return False


async def build_plan(
    ctx: ActionsContext,
    principal: Principal,
    convention: ConventionRef,
    axes: Sequence[Axe],
    actions: Sequence[Action],
    with_codes: bool,
) -> Plan:
    """The plan `essai` compares the file with. The signataires' SIREN and INSEE codes
    live in the conventions service's registry: asked only when the file holds codes
    (or the replica does not name every signataire yet)."""
    ids = sorted(service.collectivites_signataires(convention))
    if not with_codes and all(i in convention.noms for i in ids):
        codes = {}
    else:
        codes = await ctx.replica.client.organisations(ids)
    porteurs = [
        Organisation(
            i,
            convention.noms.get(i) or (codes[i].nom if i in codes else str(i)),
            codes[i].siren if i in codes else None,
            codes[i].code_insee if i in codes else None,
        )
        for i in ids
    ]
    refus = None
    try:
        service.require_convention_accepts(ctx, principal, convention, service.Travail.nouveau)
    except Conflict as exc:
        refus = str(exc.args[0]) if exc.args else "La convention n'accepte plus d'actions."
    existing = [
        ActionExistante(
            a.id,
            a.axe_id,
            a.parent_id,
            {k: getattr(a, k) for k in imports.PLAIN_FIELDS},
            tuple(a.porteur_ids),
        )
        for a in actions
    ]
    return Plan(
        axes=[AxeExistant(a.id, a.titre, a.position) for a in axes],
        actions={a.reference: a for a in existing if a.reference is not None},
        porteurs=porteurs,
        creation_refusee=refus,
        sans_reference=[a for a in existing if a.reference is None],
    )


# --- the file --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fichier:
    header: Sequence[CellValue]
    rows: Sequence[TableRow]


async def read_file(data: bytes, filename: str) -> tuple[str, Fichier]:
    """The file's type and its first sheet, or a refusal (kernel.tabular.read_table),
    parsed off the event loop."""
    table = await asyncio.to_thread(read_table, data, filename)
    header, rows = imports.rows_of_first_sheet(table.sheets)
    return table.media_type, Fichier(header, rows)


def mapping_of(imp: ImportPlan) -> dict[str, int]:
    return {k: int(str(v)) for k, v in imp.correspondance.items() if v is not None}


def _guessed(header: Sequence[CellValue]) -> HeaderMapping:
    return guess_mapping(header, EXPECTED)


def correspondance(
    header: Sequence[CellValue], columns: Mapping[str, int], confirmee: bool
) -> Correspondance:
    guessed = {m.key: m for m in _guessed(header).matches}
    out = []
    for champ in CHAMPS:
        col = columns.get(champ.key)
        match: Match | None = guessed.get(champ.key)
        sure = match.confidence if match is not None and match.column == col else None
        out.append(
            Colonne(
                champ=champ.key,
                libelle=champ.label,
                obligatoire=champ.required,
                colonne=column_name(col) if col is not None else None,
                entete=str(header[col]) if col is not None and col < len(header) else None,
                certitude=1.0 if confirmee and col is not None else sure,
            )
        )
    used = set(columns.values())
    ignored = [str(h) for i, h in enumerate(header) if h is not None and i not in used]
    exact = all(
        m.how is How.exact for m in guessed.values() if columns.get(m.key) == m.column
    ) and all(columns.get(c.key) is not None for c in CHAMPS if c.required)
    return Correspondance(
        colonnes=out,
        confirmee=confirmee,
        a_confirmer=not confirmee and not exact,
        colonnes_ignorees=ignored,
    )


def rapport(
    imp: ImportPlan, fichier: Fichier, columns: Mapping[str, int], result: Essai
) -> RapportImport:
    counts = result.counts()
    return RapportImport(
        id=imp.id,
        convention_id=imp.convention_id,
        nom_fichier=imp.nom_fichier,
        etat=imp.etat,
        valide=result.valide,
        correspondance=correspondance(fichier.header, columns, imp.confirmee),
        colonnes_manquantes=result.colonnes_manquantes,
        axes_nouveaux=result.axes_nouveaux,
        totaux=Totaux(
            creation=counts[Operation.creation.value],
            modification=counts[Operation.modification.value],
            inchangee=counts[Operation.inchangee.value],
            refusee=counts[Operation.refusee.value],
        ),
        lignes=[ligne.report() for ligne in result.lignes],
        cree_le=imp.created_at,
        expire_le=imp.expire_le,
    )


def stored(report: RapportImport) -> JsonObject:
    """The report as stored (`ImportPlan.rapport`) and answered: its JSON, the unset
    fields left out (an error's suggestions: a porteur's only), dates as `isoformat`
    writes them (orjson without its UTC « Z »), as imports have always been kept."""
    body = orjson.loads(orjson.dumps(report.model_dump(exclude_unset=True), default=str))
    assert isinstance(body, dict)
    return body


@dataclass
class Report:
    body: JsonObject  # the answer, as stored
    etag: str
    essai: Essai | None = None
    rapport: RapportImport | None = None  # when just computed


async def _run(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention: ConventionRef,
    imp: ImportPlan,
    *,
    for_update: bool = False,
) -> tuple[Report, list[Action]]:
    """The dry run of `imp` on the plan as it stands now."""
    _, fichier = await read_file(imp.contenu, imp.nom_fichier)
    columns = mapping_of(imp)
    axes, actions = await plan_rows(session, convention.id, for_update=for_update)
    plan = await build_plan(
        ctx,
        principal,
        convention,
        axes,
        actions,
        _looks_like_codes(fichier.rows, columns.get("porteurs")),
    )
    result = imports.essai(fichier.rows, columns, plan)
    fingerprint = empreinte(axes, actions)
    imp.empreinte_plan = fingerprint
    computed = rapport(imp, fichier, columns, result)
    body = stored(computed)
    imp.rapport = body
    return Report(body, import_etag(imp, fingerprint), result, computed), actions


# --- the routes' work ------------------------------------------------------------------


async def _writable(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> ConventionRef:
    convention = await service.writable_convention(ctx, session, principal, convention_id)
    service.require_caf_agent(principal, convention, "importer un plan d'actions")
    return convention


async def upload(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    filename: str,
    data: bytes,
) -> Report:
    """A new import: the file read and refused here if it must be (nothing stored), its
    columns guessed, its dry run on the current plan."""
    convention = await _writable(ctx, session, principal, convention_id)
    media_type, fichier = await read_file(data, filename)
    guessed = _guessed(fichier.header)
    now = ctx.settings.now()
    imp = ImportPlan(
        id=uuid.uuid4(),
        convention_id=convention_id,
        auteur_id=principal.subject,
        nom_fichier=filename[:255],
        type_fichier=media_type,
        contenu=data,
        correspondance={m.key: m.column for m in guessed.matches},
        confirmee=False,
        rapport={},
        empreinte_plan="",
        etat=ESSAI,
        version=1,
        created_at=now,
        updated_at=now,
        expire_le=now + IMPORT_TTL,
    )
    report, _ = await _run(ctx, session, principal, convention, imp)
    session.add(imp)
    await session.flush()
    return report


async def load(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> ImportPlan:
    """The caller's own import on that convention, not expired (404 otherwise)."""
    stmt = select(ImportPlan).where(
        ImportPlan.id == import_id,
        ImportPlan.convention_id == convention_id,
        ImportPlan.auteur_id == principal.subject,
        ImportPlan.expire_le > ctx.settings.now(),
    )
    if for_update:
        stmt = stmt.with_for_update()
    imp = (await session.execute(stmt)).scalar_one_or_none()
    if imp is None:
        raise NotFound("Import introuvable (ou expiré).")
    return imp


async def read(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
) -> Report:
    """The report; run again (not stored) when the plan changed since it was made, so
    what the reader sees is what a commit with its ETag would do."""
    imp = await load(ctx, session, principal, convention_id, import_id)
    if imp.etat == VALIDE:
        return Report(dict(imp.rapport), import_etag(imp, imp.empreinte_plan))
    convention = await ctx.replica.readable(session, convention_id, principal)
    axes, actions = await plan_rows(session, convention_id, for_update=False)
    if empreinte(axes, actions) == imp.empreinte_plan:
        return Report(dict(imp.rapport), import_etag(imp, imp.empreinte_plan))
    report, _ = await _run(ctx, session, principal, convention, imp)
    session.expunge(imp)  # a read writes nothing
    return report


async def set_mapping(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
    colonnes: Mapping[str, str | None],
) -> Report:
    """The user's mapping (field → column letter), then the dry run again."""
    imp = await load(ctx, session, principal, convention_id, import_id, for_update=True)
    _refuse_if_done(imp)
    convention = await _writable(ctx, session, principal, convention_id)
    _, fichier = await read_file(imp.contenu, imp.nom_fichier)
    width = max([len(fichier.header), *(len(r.values) for r in fichier.rows)], default=0)
    letters = {column_name(i): i for i in range(width)}
    current = mapping_of(imp)
    errors = []
    for key, letter in colonnes.items():
        if key not in imports.BY_KEY:
            errors.append({"field": f"colonnes.{key}", "message": f"Champ inconnu « {key} »."})
        elif letter is None:
            current.pop(key, None)
        elif letter.strip().upper() not in letters:
            errors.append(
                {"field": f"colonnes.{key}", "message": f"Le fichier n'a pas de colonne {letter}."}
            )
        else:
            current[key] = letters[letter.strip().upper()]
    taken: dict[int, str] = {}
    for key, col in current.items():
        if col in taken:
            errors.append(
                {
                    "field": f"colonnes.{key}",
                    "message": f"La colonne {column_name(col)} alimente déjà « "
                    f"{imports.BY_KEY[taken[col]].label} ».",
                }
            )
        taken[col] = key
    if errors:
        raise InvalidPayload("Correspondance des colonnes invalide.", errors=errors)
    imp.correspondance = dict(current)
    imp.confirmee = True
    imp.version += 1
    imp.updated_at = ctx.settings.now()
    report, _ = await _run(ctx, session, principal, convention, imp)
    await session.flush()
    return report


def _rang(ligne: imports.Ligne, by_id: Mapping[uuid.UUID, Action]) -> int:
    """The order of a commit's writes, so that each is valid when it is made (one level
    of sous-actions): the actions first (a new parent exists, a sous-action leaving its
    parent for the axe is out of the way), then the sous-actions that have none of their
    own, last the actions becoming sous-actions (their own have moved by then)."""
    if ligne.parent is None:
        return 0
    action = by_id.get(ligne.action_id) if ligne.action_id is not None else None
    return 2 if action is not None and action.parent_id is None else 1


def _refuse_if_done(imp: ImportPlan) -> None:
    if imp.etat == VALIDE:
        raise Conflict(
            "Cet import a déjà été validé : déposez le fichier de nouveau pour un autre import.",
            extra={"code": "import-deja-valide"},
        )


async def commit(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    convention_id: uuid.UUID,
    import_id: uuid.UUID,
) -> Report:
    """The whole file or nothing, in the request's transaction: the dry run again on the
    locked plan (the same as the report whose ETag is sent), then its writes."""
    imp = await load(ctx, session, principal, convention_id, import_id, for_update=True)
    _refuse_if_done(imp)
    convention = await _writable(ctx, session, principal, convention_id)
    report, actions = await _run(ctx, session, principal, convention, imp, for_update=True)
    preconditions.check(report.etag)
    result = report.essai
    assert result is not None
    if not result.valide:
        raise Conflict(
            "Le fichier comporte des lignes refusées ou des colonnes manquantes : rien n'a été "
            "importé. Corrigez-les (voir le rapport) puis déposez-le de nouveau.",
            extra={"code": "import-refuse", "totaux": report.body["totaux"]},
        )
    service.require_convention_accepts(ctx, principal, convention, service.Travail.plan)
    new_axes: dict[str, uuid.UUID] = {}
    for titre in result.axes_nouveaux:
        axe = await service.add_axe(session, principal, convention, AxeIn(titre=titre))
        new_axes[normalise_header(titre)] = axe.id
    by_id = {a.id: a for a in actions}
    ids = {a.reference: a.id for a in actions if a.reference is not None}
    for ligne in sorted(result.lignes, key=lambda ligne: _rang(ligne, by_id)):
        axe_id = ligne.axe_id or new_axes[normalise_header(str(ligne.axe))]
        parent_id = ids[ligne.parent] if ligne.parent is not None else None
        if ligne.operation is Operation.creation:
            data = ActionIn.model_validate(
                {"axe_id": axe_id, "parent_id": parent_id, **ligne.valeurs}
            )
            created = await service.add_action(ctx, session, principal, convention, data)
            ligne.action_id = created.id
            ids[str(ligne.reference)] = created.id
        elif ligne.operation is Operation.modification:
            valeurs = dict(ligne.valeurs)
            if "axe_id" in valeurs:
                valeurs["axe_id"] = axe_id
            if "parent_id" in valeurs:
                valeurs["parent_id"] = parent_id
            action = by_id[ligne.action_id] if ligne.action_id else None
            assert action is not None
            await service.change_action(
                session, principal, convention, action, ActionPatch.model_validate(valeurs)
            )
    imp.etat = VALIDE
    imp.version += 1
    imp.updated_at = ctx.settings.now()
    assert report.rapport is not None
    valide = report.rapport.model_copy(
        update={"etat": VALIDE, "lignes": [ligne.report() for ligne in result.lignes]}
    )
    body = stored(valide)
    imp.rapport = body
    axes, actions_after = await plan_rows(session, convention_id, for_update=False)
    imp.empreinte_plan = empreinte(axes, actions_after)
    await session.flush()
    return Report(body, import_etag(imp, imp.empreinte_plan))


# --- the template ----------------------------------------------------------------------


async def template(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    prerempli: bool,
) -> tuple[str, tuple[Sheet, ...]]:
    """The template's name and sheets, for a reader of the convention; `prerempli`: with
    the plan as it stands, so that it is edited in a spreadsheet and imported again."""
    convention = await ctx.replica.readable(session, convention_id, principal)
    noms = sorted(
        convention.noms.get(i) or str(i) for i in service.collectivites_signataires(convention)
    )
    if not prerempli:
        return f"modele-import-plan-{convention.titre}", imports.template_sheets(noms)
    axes, actions = await plan_rows(session, convention_id, for_update=False)
    plan = prefilled(axes, actions, convention.noms)
    return f"plan-d-actions-{convention.titre}", imports.template_sheets(noms, plan)


def prefilled(
    axes: Sequence[Axe], actions: Sequence[Action], noms: Mapping[uuid.UUID, str]
) -> imports.Prerempli:
    """One row per action, in the plan's order (each action followed by its
    sous-actions), with the values an import reads back unchanged. An action without
    référence (or a sous-action whose parent has none) cannot be named by a row: it is
    listed apart, so that importing the file as it is changes nothing."""
    by_id = {a.id: a for a in actions}
    children: dict[uuid.UUID, list[Action]] = {}
    for a in actions:
        if a.parent_id is not None:
            children.setdefault(a.parent_id, []).append(a)
    titres = {a.id: a.titre for a in axes}
    lignes: list[dict[str, CellValue]] = []
    a_part: list[tuple[CellValue, ...]] = []
    ordered = sorted(actions, key=lambda a: a.position)
    for axe in axes:
        for top in (a for a in ordered if a.axe_id == axe.id and a.parent_id is None):
            for action in [top, *sorted(children.get(top.id, []), key=lambda a: a.position)]:
                parent = by_id.get(action.parent_id) if action.parent_id is not None else None
                if action.reference is None or (parent is not None and parent.reference is None):
                    why = (
                        imports.SANS_REFERENCE
                        if action.reference is None
                        else imports.PARENT_SANS_REFERENCE
                    )
                    parent_titre = parent.titre if parent is not None else None
                    a_part.append((titres[axe.id], action.titre, parent_titre, why))
                    continue
                values = {k: _cell(getattr(action, k)) for k in imports.PLAIN_FIELDS}
                values["parent"] = parent.reference if parent is not None else None
                values["axe"] = titres[axe.id]
                values["porteurs"] = " ; ".join(noms.get(p) or str(p) for p in action.porteur_ids)
                lignes.append(values)
    return imports.Prerempli(lignes, a_part)


def _cell(value: CellValue | StrEnum) -> CellValue:
    return value.value if isinstance(value, StrEnum) else value
