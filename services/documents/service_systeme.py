"""Documents the suite produces itself (kernel.documents_systeme): an adopted bilan's
report, sent by the actions service. Kept once per key, scanned like any upload
(`upload.Ingest`: type from the content, size limit, clamd; clamd unreachable: kept
`en_analyse` and scanned again by `documents.rescan`), owned by the convention's Caf,
and never edited, versioned or deleted by anyone (`service.require_user_document`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import upsert_refs
from kernel.documents_systeme import DEPOSANT_SYSTEME
from kernel.history import Author
from kernel.principal import Principal
from kernel.sniffing import sanitize_filename
from services.documents.context import DocumentsContext
from services.documents.history import DEPOT, DOCUMENT, HISTORY, VERSION
from services.documents.models import Document, TypeDocument, Version
from services.documents.service import now
from services.documents.service_upload import add_version, publish
from services.documents.upload import Ingest

_LOCK = "documents.systeme"


async def _kept(session: AsyncSession, cle: str) -> tuple[Document, Version | None] | None:
    document = (
        await session.execute(select(Document).where(Document.cle_systeme == cle))
    ).scalar_one_or_none()
    if document is None:
        return None
    version = (
        await session.execute(
            select(Version)
            .where(Version.document_id == document.id)
            .order_by(Version.numero.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return document, version


async def keep(
    ctx: DocumentsContext,
    session: AsyncSession,
    service: Principal,
    convention_id: uuid.UUID,
    cle: str,
    *,
    type_document: TypeDocument,
    titre: str,
    nom_fichier: str,
    bilan_id: uuid.UUID | None,
    body: AsyncIterator[bytes],
) -> tuple[Document, Version | None, bool]:
    """The document kept under `cle`: the one already there (False), or this file
    (True). The content is read only when the key is new."""
    kept = await _kept(session, cle)
    if kept is not None:
        return (*kept, False)
    ref = await ctx.replica.get(session, convention_id)  # 404 when unknown
    # Nothing held while the file streams in and clamd reads it.
    await session.rollback()
    filename = sanitize_filename(nom_fichier).name or "document"
    ingest = Ingest(ctx.storage, ctx.scanner, ctx.settings.max_file_bytes)
    await ingest.start()
    try:
        async for chunk in body:
            await ingest.write(chunk)
        ingested = await ingest.finish(filename)
    except BaseException:
        await ingest.abort()
        raise
    try:
        # Two senders of one key: the second waits, then answers the first's document.
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(_LOCK), func.hashtext(cle)))
        )
        kept = await _kept(session, cle)
        if kept is not None:
            await ingested.upload.abort()
            return (*kept, False)
        # The replica's row a fetch on a miss wrote went with the rollback above.
        await upsert_refs(session, ctx.replica.table, [ref])
        at = now()
        document = Document(
            id=uuid.uuid4(),
            convention_id=ref.id,
            bilan_id=bilan_id,
            type=type_document.value,
            titre=titre,
            depose_par=service.subject,
            depose_par_nom=DEPOSANT_SYSTEME,
            organisation_id=ref.caf_id,
            depose_le=at,
            modifie_le=at,
            revision=1,
            cle_systeme=cle,
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
            numero=1,
            nom_fichier=filename,
            depose_par=service.subject,
            depose_par_nom=DEPOSANT_SYSTEME,
            organisation_id=ref.caf_id,
            depose_le=at,
        ),
    )
    await session.flush()
    author = Author(service.subject, DEPOSANT_SYSTEME)
    await HISTORY.record(session, author, DOCUMENT, document, None, evenement=DEPOT)
    await HISTORY.record(
        session, author, VERSION, version, None, evenement=DEPOT, convention_id=ref.id
    )
    return document, version, True
