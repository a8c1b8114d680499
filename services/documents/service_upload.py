"""The upload of a document or of a new version: the streamed write path.

Order of events (see docs/architecture.md, "Documents service"):

1. metadata fields arrive first; when the file part starts, the convention is fetched
   fresh from the conventions service and the caller's rights are checked, without
   holding a database connection during the transfer;
2. the file streams to a temporary upload while it is hashed, sniffed, size-checked
   and fed to clamd (`upload.Ingest`);
3. at the end the upload is made durable, then published under its hash (clean or not
   scanned yet; under the content's advisory lock, against a concurrent purge of the
   same bytes) or dropped (infected);
4. the rows are written in the request's transaction. Until it commits nothing is
   visible; a failure at any step removes the temporary, and a crash leaves only
   what `coop documents cleanup` removes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef, upsert_refs
from kernel.errors import (
    BadRequest,
    InvalidPayload,
    NotFound,
    PayloadTooLarge,
    validation_entries,
)
from kernel.principal import Principal
from kernel.sniffing import sanitize_filename
from services.documents import repository as repo
from services.documents.context import DocumentsContext
from services.documents.history import DEPOT, DOCUMENT, HISTORY, NOUVELLE_VERSION, VERSION
from services.documents.models import Document, StatutAnalyse, Version
from services.documents.schemas import DocumentFields, VersionFields
from services.documents.service import (
    apply_verdict,
    check_upload,
    load_document,
    now,
    record_scan_error,
    require_user_document,
    uploader_organisation,
)
from services.documents.upload import (
    Ingest,
    Ingested,
    MultipartStream,
    PartData,
    PartEnd,
    PartStart,
)

M = TypeVar("M", bound=BaseModel)
FILE_FIELD = "fichier"


@dataclass(frozen=True)
class UploadRequest:
    content_type: str | None
    content_length: str | None
    body: AsyncIterator[bytes]


def _validate(model: type[M], fields: dict[str, str]) -> M:
    try:
        return model.model_validate({k: (v or None) for k, v in fields.items()})
    except ValidationError as exc:
        raise InvalidPayload(
            "Les champs du formulaire sont invalides.",
            errors=validation_entries(exc.errors(), location="form"),
        ) from exc


async def _fresh_reference(ctx: DocumentsContext, convention_id: uuid.UUID) -> ConventionRef:
    ref = await ctx.replica.client.fetch(convention_id)
    if ref is None:
        raise NotFound("Convention introuvable.")
    return ref


@dataclass
class _Received:
    fields: dict[str, str]
    filename: str
    ingested: Ingested
    ref: ConventionRef


async def _receive(
    ctx: DocumentsContext,
    session: AsyncSession,
    principal: Principal,
    request: UploadRequest,
    document_id: uuid.UUID | None,
) -> _Received:
    settings = ctx.settings
    # Room for every allowed field and part header around the file, plus framing.
    envelope = settings.multipart_max_parts * (
        settings.multipart_max_field_bytes + settings.multipart_max_header_bytes + 512
    )
    declared = request.content_length
    if declared and declared.isdigit() and int(declared) > settings.max_file_bytes + envelope:
        raise PayloadTooLarge(
            "Le fichier dépasse la taille maximale "
            f"({settings.max_file_bytes // (1024 * 1024)} Mio)."
        )
    stream = MultipartStream(
        request.content_type,
        max_parts=settings.multipart_max_parts,
        max_header_bytes=settings.multipart_max_header_bytes,
    )
    fields: dict[str, str] = {}
    current: str | None = None
    buffer = bytearray()
    ingest: Ingest | None = None
    filename = ""
    ref: ConventionRef | None = None
    file_done = False
    try:
        async for event in stream.events(request.body):
            if isinstance(event, PartStart):
                if file_done:
                    raise BadRequest("Le fichier doit être la dernière partie du formulaire.")
                if event.name == FILE_FIELD:
                    if event.filename is None:
                        raise BadRequest("La partie « fichier » doit porter un nom de fichier.")
                    filename = sanitize_filename(event.filename).name
                    if not filename:
                        raise InvalidPayload(
                            "Nom de fichier invalide.",
                            errors=[{"field": FILE_FIELD, "message": "nom de fichier vide"}],
                        )
                    ref = await _authorise(ctx, session, principal, fields, document_id)
                    ingest = Ingest(ctx.storage, ctx.scanner, settings.max_file_bytes)
                    await ingest.start()
                    current = FILE_FIELD
                else:
                    if event.name in fields or event.filename is not None:
                        raise BadRequest(f"Partie inattendue : « {event.name} ».")
                    current = event.name
                    buffer = bytearray()
            elif isinstance(event, PartData):
                if current == FILE_FIELD:
                    assert ingest is not None
                    await ingest.write(event.data)
                else:
                    buffer += event.data
                    if len(buffer) > settings.multipart_max_field_bytes:
                        raise PayloadTooLarge(f"Le champ « {current} » est trop long.")
            elif isinstance(event, PartEnd):
                if current == FILE_FIELD:
                    file_done = True
                elif current is not None:
                    try:
                        fields[current] = buffer.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise BadRequest(f"Le champ « {current} » n'est pas en UTF-8.") from exc
                current = None
        if ingest is None or ref is None or not file_done:
            raise InvalidPayload(
                "Le formulaire doit contenir le fichier (partie « fichier »).",
                errors=[{"field": FILE_FIELD, "message": "champ requis"}],
            )
        ingested = await ingest.finish(filename)
    except BaseException:
        # Client gone, limit hit, bad type: the temporary goes, nothing was published.
        if ingest is not None:
            await ingest.abort()
        raise
    return _Received(fields=fields, filename=filename, ingested=ingested, ref=ref)


async def _authorise(
    ctx: DocumentsContext,
    session: AsyncSession,
    principal: Principal,
    fields: dict[str, str],
    document_id: uuid.UUID | None,
) -> ConventionRef:
    """Before any byte of the file is stored: fresh convention state and rights."""
    if document_id is None:
        meta = _validate(DocumentFields, fields)
        convention_id, type_document = meta.convention_id, meta.type.value
    else:
        _validate(VersionFields, fields)
        document, _ = await load_document(session, principal, document_id)
        require_user_document(document)
        convention_id, type_document = document.convention_id, document.type
        # Do not keep a connection (and a transaction) open while the file streams in.
        await session.rollback()
    ref = await _fresh_reference(ctx, convention_id)
    return check_upload(ref, principal, now().date(), type_document)


async def publish(ctx: DocumentsContext, session: AsyncSession, ingested: Ingested) -> str:
    """Durable content: published under its hash, verdict applied. Returns the status
    before any clamd error is counted (`record_scan_error`)."""
    verdict = ingested.verdict
    if verdict is not None and not verdict.clean:
        await ingested.upload.abort()  # infected content is never kept
        return StatutAnalyse.rejete.value
    # Identical bytes may be stored already, and a purge may be deleting them right now:
    # hold the content's lock (until this transaction ends) from before the blob is
    # published until the version referring to it is committed. See
    # `service.delete_contenu_if_unreferenced`.
    await repo.lock_contenu(session, ingested.sha256)
    key = await ctx.storage.publish(ingested.upload, ingested.sha256)
    await repo.ensure_contenu(session, ingested.sha256, ingested.size, key)
    if ctx.scanner is None or (verdict is not None and verdict.clean):
        return StatutAnalyse.disponible.value
    # clamd unreachable or in error: fail closed, stored and scanned again later.
    return StatutAnalyse.en_analyse.value


def add_version(
    ctx: DocumentsContext,
    session: AsyncSession,
    document: Document,
    ingested: Ingested,
    statut: str,
    version: Version,
) -> Version:
    """`version` (its number, name and depositor set) of the content `ingested`,
    published with `statut`: its verdict or clamd's error recorded, added to `document`."""
    version.id = uuid.uuid4()
    version.document_id = document.id
    version.taille = ingested.size
    version.type_contenu = ingested.content_type
    version.sha256 = ingested.sha256
    version.contenu_sha256 = None if statut == StatutAnalyse.rejete.value else ingested.sha256
    version.statut = statut
    version.echecs_analyse = 0
    if ingested.verdict is not None:
        apply_verdict(version, ingested.verdict)
    elif ingested.scan_error is not None:
        # The uploader learns at once that clamd could not analyse the file.
        record_scan_error(version, ingested.scan_error, ctx.settings.scan_max_errors)
    session.add(version)
    if statut == StatutAnalyse.disponible.value:
        document.version_disponible = version.numero
    return version


async def upload(
    ctx: DocumentsContext,
    session: AsyncSession,
    principal: Principal,
    request: UploadRequest,
    document_id: uuid.UUID | None = None,
) -> tuple[Document, Version]:
    received = await _receive(ctx, session, principal, request, document_id)
    ingested = received.ingested
    try:
        # The state may have changed during the transfer: record it, check it again.
        await upsert_refs(session, ctx.replica.table, [received.ref])
        current = await repo.convention_of(session, received.ref.id)
        if document_id is not None:
            await repo.lock_document(session, document_id)
            document, _ = await load_document(session, principal, document_id)
            ref = check_upload(current, principal, now().date(), document.type)
            libelle = _validate(VersionFields, received.fields).libelle
        else:
            meta = _validate(DocumentFields, received.fields)
            ref = check_upload(current, principal, now().date(), meta.type.value)
            libelle = meta.libelle
            document = Document(
                id=uuid.uuid4(),
                convention_id=ref.id,
                action_id=meta.action_id,
                bilan_id=meta.bilan_id,
                type=meta.type.value,
                titre=meta.titre,
                description=meta.description,
                depose_par=principal.subject,
                depose_par_nom=principal.name,
                organisation_id=uploader_organisation(ref, principal),
                depose_le=now(),
                modifie_le=now(),
                revision=1,
            )
            session.add(document)
            await session.flush()
        statut = await publish(ctx, session, ingested)
    except BaseException:
        await ingested.upload.abort()
        raise
    version = add_version(
        ctx,
        session,
        document,
        ingested,
        statut,
        Version(
            numero=await repo.next_version_number(session, document.id),
            libelle=libelle,
            nom_fichier=received.filename,
            depose_par=principal.subject,
            depose_par_nom=principal.name,
            organisation_id=uploader_organisation(ref, principal),
            depose_le=now(),
        ),
    )
    document.modifie_le = now()
    document.revision += 1 if document_id is not None else 0
    await session.flush()
    if document_id is None:
        await HISTORY.record(session, principal, DOCUMENT, document, None, evenement=DEPOT)
    await HISTORY.record(
        session,
        principal,
        VERSION,
        version,
        None,
        evenement=DEPOT if document_id is None else NOUVELLE_VERSION,
        convention_id=document.convention_id,
    )
    return document, version
