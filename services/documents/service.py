"""Domain rules of the documents service: who may do what, in which state."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, Forbidden, Gone, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.history import SYSTEM
from kernel.json_response import JsonObject, ResponseFields
from kernel.principal import Principal
from kernel.reads import row_from
from services.documents import repository as repo
from services.documents.antivirus import ClamdClient, ScanError, ScanUnavailable, Verdict
from services.documents.context import DocumentsContext
from services.documents.history import CORBEILLE, HISTORY, PURGE, RESTAURATION
from services.documents.history import DOCUMENT as DOCUMENT_KIND
from services.documents.models import Document, StatutAnalyse, TypeDocument, Version
from services.documents.repository import DocumentListed, VersionRow
from services.documents.schemas import Antivirus, DocumentOut, DocumentPatch, VersionOut
from services.documents.storage import Storage, sha_of_blob_key

_log = logging.getLogger("coop.documents")
PARIS = ZoneInfo("Europe/Paris")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- rights ------------------------------------------------------------------------------


def may_upload(ref: ConventionRef, principal: Principal) -> bool:
    """Caf agents of the convention's Caf, contributeurs/referents of a signatory."""
    return ref.caf_id in principal.caf_write_ids() or bool(
        set(ref.signataire_ids) & principal.collectivite_write_ids()
    )


def uploader_organisation(ref: ConventionRef, principal: Principal) -> uuid.UUID:
    if ref.caf_id in principal.caf_write_ids():
        return ref.caf_id
    return sorted(set(ref.signataire_ids) & principal.collectivite_write_ids())[0]


# Every type of bilan a collectivité still uploads once the convention has ended.
BILANS = frozenset(
    {
        TypeDocument.bilan,
        TypeDocument.bilan_point_etape,
        TypeDocument.bilan_intermediaire,
        TypeDocument.bilan_final,
    }
)


def require_user_document(document: Document) -> None:
    """A document the suite produced (an adopted bilan's report) is the record of what
    was adopted: nobody edits it, adds a version to it or deletes it (403)."""
    if document.cle_systeme is not None:
        raise Forbidden(
            "Ce document est produit par Coopération (rapport d'un bilan adopté) : il ne "
            "peut être ni modifié, ni remplacé, ni supprimé."
        )


def may_manage(document: Document, ref: ConventionRef, principal: Principal) -> bool:
    """Delete, restore, edit: the uploader's organisation or a Caf agent of the convention."""
    writers = principal.caf_write_ids() | principal.collectivite_write_ids()
    return ref.caf_id in principal.caf_write_ids() or document.organisation_id in writers


def check_upload(
    ref: ConventionRef | None, principal: Principal, today: dt.date, type_document: str
) -> ConventionRef:
    """May `principal` upload a document of `type_document` (or a version of one) to
    this convention today: 404 outside the scope, 403 without the right, 409 once it
    has ended (`require_convention_accepts`)."""
    if ref is None or not ref.readable_by(principal):
        raise NotFound("Convention introuvable.")
    if not may_upload(ref, principal):
        raise Forbidden(
            "Seuls les agents de la Caf et les contributeurs des collectivités signataires "
            "déposent des documents."
        )
    require_convention_accepts(ref, principal, today, depot=type_document)
    return ref


def require_convention_accepts(
    ref: ConventionRef, principal: Principal, today: dt.date, *, depot: str | None
) -> None:
    """The one place saying what a résiliée (from its date of effect) or échue convention
    still accepts: an upload of a document of type `depot`, or (None) a change to a
    document already there (metadata, bin, restoration).

    Art. 12 (003): "La résiliation de la présente convention entraînera l'arrêt immédiat
    des engagements des parties": the collectivités' engagements stop, so their changes
    are refused (409). The convention's papers do not stop with it: the Caf's agents
    still upload and manage them (the signed text of a CTG recorded after the fact, its
    avenants, the COPIL's minutes, the bilan final: 002 "L'évaluation est un préalable à
    tout renouvellement"). The signatory collectivités still upload bilans: art. 9 (003)
    "les personnes désignées pour suivre la CTG au sein de la collectivité, conduisent
    l'évaluation ... en exploitant et communiquant les résultats"."""
    if ref.accepts_new_work(today) or ref.caf_id in principal.caf_write_ids():
        return
    if depot in BILANS:
        return
    etat = ref.etat(today).value
    raise Conflict(
        f"La convention est {etat} : seule la Caf y dépose et modifie encore des documents ; "
        "les collectivités signataires y déposent encore leurs bilans.",
        extra={"code": "convention-close", "etat_convention": etat},
    )


# --- reading -----------------------------------------------------------------------------


VERSION = ResponseFields(VersionOut, VersionRow, derived=("antivirus",))
DOCUMENT = ResponseFields(
    DocumentOut, DocumentListed, derived=("restaurable_jusqu_au", "derniere_version", "antivirus")
)


def version_json(version: VersionRow, antivirus: Antivirus) -> JsonObject:
    return VERSION(version, antivirus=antivirus)


def document_json(
    document: DocumentListed, latest: VersionRow | None, ctx: DocumentsContext
) -> JsonObject:
    """A DocumentOut: the rows' fields, and when it leaves the bin for good."""
    restorable = None
    if document.supprime_le is not None:
        restorable = document.supprime_le + dt.timedelta(days=ctx.settings.bin_retention_days)
    return DOCUMENT(
        document,
        restaurable_jusqu_au=restorable,
        derniere_version=None if latest is None else version_json(latest, ctx.antivirus),
        antivirus=ctx.antivirus,
    )


def _version_row(version: Version, noms: Mapping[uuid.UUID, str]) -> VersionRow:
    return row_from(VersionRow, version, organisation_nom=noms.get(version.organisation_id))


def version_out(
    version: Version, antivirus: Antivirus, noms: Mapping[uuid.UUID, str]
) -> VersionOut:
    """A write's answer, or a version read through the ORM: the same row type as a list's
    (`noms`: its convention's, `ConventionRef.noms`)."""
    return VersionOut.model_validate(version_json(_version_row(version, noms), antivirus))


def document_out(
    document: Document, latest: Version | None, ctx: DocumentsContext, noms: Mapping[uuid.UUID, str]
) -> DocumentOut:
    latest_row = None if latest is None else _version_row(latest, noms)
    row = row_from(
        DocumentListed,
        document,
        organisation_nom=noms.get(document.organisation_id),
        systeme=document.cle_systeme is not None,
    )
    return DocumentOut.model_validate(document_json(row, latest_row, ctx))


async def load_document(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    *,
    deleted: bool | None = False,
    for_update: bool = False,
) -> tuple[Document, ConventionRef]:
    found = await repo.get_document(
        session, principal, document_id, deleted=deleted, for_update=for_update
    )
    if found is not None:
        return found
    record = await repo.get_document(session, principal, document_id, purged=True)
    if record is not None and record[0].purge_le is not None:
        purged = record[0].purge_le
        raise Gone(
            f"Document supprimé définitivement le {purged.astimezone(PARIS):%d/%m/%Y} (corbeille "
            "vidée) : son contenu n'est plus conservé, seul son historique en garde la trace.",
            extra={"purge_le": purged.isoformat()},
        )
    raise NotFound("Document introuvable.")


async def describe(
    session: AsyncSession,
    ctx: DocumentsContext,
    principal: Principal,
    document: Document,
    ref: ConventionRef,
) -> DocumentOut:
    latest = await repo.latest_version(session, principal, document.id)
    return document_out(document, latest, ctx, ref.noms)


# --- changes -----------------------------------------------------------------------------


def document_etag(document: Document) -> str:
    return etag_for(document.id, document.revision)


async def update_metadata(
    session: AsyncSession,
    document: Document,
    ref: ConventionRef,
    principal: Principal,
    patch: DocumentPatch,
    preconditions: Preconditions,
) -> None:
    """The document is locked; its version is checked first (412, 428), then rights."""
    preconditions.check(document_etag(document))
    require_user_document(document)
    if not may_manage(document, ref, principal):
        raise Forbidden("Seuls l'organisation qui a déposé le document et la Caf le modifient.")
    require_convention_accepts(ref, principal, now().date(), depot=None)
    before = DOCUMENT_KIND.snapshot(document)
    changes = patch.model_dump(exclude_unset=True)
    for name in ("type", "titre"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    for name, value in changes.items():
        setattr(document, name, value.value if name == "type" and value is not None else value)
    document.revision += 1
    document.modifie_le = now()
    await session.flush()
    await HISTORY.record(session, principal, DOCUMENT_KIND, document, before)


async def move_to_bin(
    session: AsyncSession, document: Document, ref: ConventionRef, principal: Principal
) -> None:
    require_user_document(document)
    if not may_manage(document, ref, principal):
        raise Forbidden("Seuls l'organisation qui a déposé le document et la Caf le suppriment.")
    require_convention_accepts(ref, principal, now().date(), depot=None)
    before = DOCUMENT_KIND.snapshot(document)
    document.supprime_le = now()
    document.supprime_par = principal.subject
    document.revision += 1
    await session.flush()
    await HISTORY.record(session, principal, DOCUMENT_KIND, document, before, evenement=CORBEILLE)


async def restore(
    session: AsyncSession,
    ctx: DocumentsContext,
    document: Document,
    ref: ConventionRef,
    principal: Principal,
) -> None:
    require_user_document(document)
    if not may_manage(document, ref, principal):
        raise Forbidden("Seuls l'organisation qui a déposé le document et la Caf le restaurent.")
    require_convention_accepts(ref, principal, now().date(), depot=None)
    assert document.supprime_le is not None
    limit = document.supprime_le + dt.timedelta(days=ctx.settings.bin_retention_days)
    if now() > limit:
        raise Conflict("Le délai de restauration de ce document est dépassé.")
    before = DOCUMENT_KIND.snapshot(document)
    document.supprime_le = None
    document.supprime_par = None
    document.revision += 1
    document.modifie_le = now()
    await session.flush()
    await HISTORY.record(
        session, principal, DOCUMENT_KIND, document, before, evenement=RESTAURATION
    )


# --- operations (CLI and background) -------------------------------------------------------


@dataclass(frozen=True)
class PurgeReport:
    documents: int
    contenus: int


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    retention_days: int,
    at: dt.datetime | None = None,
) -> PurgeReport:
    """Purge the documents in the bin past retention (their record stays, their content
    goes: `repo.purge_bin`), then delete the content nothing refers to any more (each
    under its lock, see `delete_contenu_if_unreferenced`). Each purge is recorded, by
    the system: the document's history keeps its metadata, never its content."""
    at = at or now()
    deadline = at - dt.timedelta(days=retention_days)
    async with sessionmaker() as session:
        purged = await repo.purge_bin(session, deadline, at)
        for document in purged:
            before = {**DOCUMENT_KIND.snapshot(document), "purge_le": None}
            await HISTORY.record(session, SYSTEM, DOCUMENT_KIND, document, before, evenement=PURGE)
        await session.commit()
    documents = len(purged)
    async with sessionmaker() as session:
        candidates = await repo.unreferenced_contenus(session)
    removed = 0
    for sha in candidates:
        removed += await delete_contenu_if_unreferenced(sessionmaker, storage, sha)
    return PurgeReport(documents=documents, contenus=removed)


async def delete_contenu_if_unreferenced(
    sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, sha256: str
) -> bool:
    """Delete stored content (row and blob) if no version refers to it. True if deleted.

    Deduplication makes this racy without a guard: an upload of identical bytes may
    attach a new version to this very content while it is being deleted. Both sides
    take the content's advisory lock (`repo.lock_contenu`; the upload before it
    publishes its blob and attaches its version, see `service_upload._publish`), and
    "no version refers to it" is checked by a statement run inside the lock (a fresh
    snapshot), and the blob is deleted before the lock is released. So either the
    upload committed first and the content is kept, or the deletion finishes first and
    the upload publishes its blob again and re-creates the row.

    Should the commit fail after the blob is gone, the row stays, still unreferenced:
    an upload re-publishes the blob, the next purge deletes both.
    """
    async with sessionmaker() as session:
        await repo.lock_contenu(session, sha256)
        key = await repo.drop_contenu_if_unreferenced(session, sha256)
        if key is not None:
            await storage.delete(key)
        await session.commit()
    return key is not None


# --- the antivirus verdicts ------------------------------------------------------------


def apply_verdict(version: Version, verdict: Verdict) -> None:
    """clamd's OK or FOUND. A rejected version's content is dropped by the caller."""
    version.analyse_le = now()
    if verdict.clean:
        version.statut = StatutAnalyse.disponible.value
        version.motif = None
    else:
        version.statut = StatutAnalyse.rejete.value
        version.signature = verdict.signature
        version.motif = f"Menace détectée par l'antivirus : {verdict.signature}"


def record_scan_error(version: Version, message: str, max_errors: int) -> None:
    """clamd answered with an error (it cannot analyse this content as configured).

    Fail closed and say so: the reason is kept on the version; below `max_errors` it stays
    `en_analyse` (retried), then it is `rejeté` (never downloadable). Unlike an infected
    version its content is kept, so that an operator who fixed clamd (raised its
    StreamMaxLength...) can queue it again: `coop documents rescan --retry-unanalysable`.
    """
    version.echecs_analyse = (version.echecs_analyse or 0) + 1
    if version.echecs_analyse >= max_errors:
        version.statut = StatutAnalyse.rejete.value
        version.analyse_le = now()
        version.motif = f"Analyse impossible : {message}"
    else:
        version.statut = StatutAnalyse.en_analyse.value
        version.motif = (
            f"Analyse antivirus en échec ({version.echecs_analyse} sur {max_errors}, "
            f"nouvel essai prévu) : {message}"
        )


async def rescan(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    scanner: ClamdClient,
    *,
    max_errors: int,
    batch: int = 20,
) -> dict[str, int]:
    """Scan again every version left `en_analyse`, oldest first, in batches. Fail closed.

    clamd unreachable stops the round (the rest waits for the next one); an error reply
    counts against that version only, so a file clamd cannot analyse does not hold up
    the ones behind it.
    """
    counts = {"disponible": 0, "rejeté": 0, "en_analyse": 0}
    after: tuple[dt.datetime, uuid.UUID] | None = None
    unreachable = False
    while not unreachable:
        infected: list[str] = []  # SHA-256 of content found infected
        async with sessionmaker() as session:
            rows = await repo.pending_versions(session, batch, after)
            for version, key in rows:
                after = (version.depose_le, version.id)
                try:
                    verdict = await scanner.scan(storage.read(key))
                except ScanUnavailable as exc:
                    _log.warning("rescan: clamd unavailable", extra={"fields": {"error": str(exc)}})
                    counts["en_analyse"] += 1
                    unreachable = True
                    break
                except ScanError as exc:
                    _log.warning(
                        "rescan: clamd error",
                        extra={"fields": {"error": exc.message, "version": str(version.id)}},
                    )
                    record_scan_error(version, exc.message, max_errors)
                    counts[version.statut] += 1
                    continue
                apply_verdict(version, verdict)
                counts[version.statut] += 1
                if verdict.clean:
                    await session.flush()
                    await repo.mark_document_available(session, version.document_id)
                elif version.contenu_sha256 is not None:
                    infected.append(version.contenu_sha256)
                    version.contenu_sha256 = None
            await session.commit()
        # Infected content is not kept: removed once no version points to it any more.
        for sha in infected:
            await delete_contenu_if_unreferenced(sessionmaker, storage, sha)
        if len(rows) < batch:
            break
    return counts


async def requeue_unanalysable(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Put the versions rejected because clamd could not analyse them back in the queue."""
    async with sessionmaker() as session:
        count = await repo.requeue_unanalysable(session)
        await session.commit()
    return count


async def cleanup_orphans(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    grace_seconds: int,
    at: dt.datetime | None = None,
) -> dict[str, int]:
    """Remove temporaries and published content that no row refers to (crash, disconnect)."""
    before = (at or now()) - dt.timedelta(seconds=grace_seconds)
    temporaries = await storage.cleanup_temp(before)
    candidates: dict[str, str] = {}
    async for key, modified in storage.list_blobs():
        sha = sha_of_blob_key(key)
        if modified < before:
            candidates[sha or key] = key
    unknown: list[str] = []
    async with sessionmaker() as session:
        shas = list(candidates)
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            known = await repo.known_contenus(session, chunk)
            unknown += [sha for sha in chunk if sha not in known]
    removed = 0
    for sha in unknown:
        removed += await _delete_orphan_blob(sessionmaker, storage, sha, candidates[sha])
    return {"temporaires": temporaries, "contenus_orphelins": removed}


async def _delete_orphan_blob(
    sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, sha256: str, key: str
) -> bool:
    """A blob without its row, deleted under the content's lock after checking again: an
    upload of the same bytes may be publishing it and creating the row right now."""
    async with sessionmaker() as session:
        await repo.lock_contenu(session, sha256)
        if await repo.known_contenus(session, [sha256]):
            return False
        await storage.delete(key)
        await session.commit()
    return True
