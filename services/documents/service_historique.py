"""Reading the documents' history (`kernel.history`): a document's, with its versions',
read like the document (404 outside the reader's scope), and still once it is purged
(its metadata; the content is gone); this service's part of a convention's feed. A
document, or a version, that only its uploader sees yet shows to them only
(`repository.history_visibility`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFound
from kernel.history import EntreeHistorique
from kernel.pagination import Page, PageParams
from kernel.principal import Principal
from services.documents import repository as repo
from services.documents.context import DocumentsContext
from services.documents.history import HISTORY

Entries = Page[EntreeHistorique]


async def document_history(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID, page: PageParams
) -> Entries:
    """In the bin or not, purged even (its record stays): the same scope."""
    found = await repo.get_document(
        session, principal, document_id, deleted=None
    ) or await repo.get_document(session, principal, document_id, purged=True)
    if found is None:
        raise NotFound("Document introuvable.")
    visible = repo.history_visibility(HISTORY.table, principal.subject)
    return await HISTORY.object_page(
        session, document_id, page, convention_id=found[0].convention_id, visible=visible
    )


async def feed(
    ctx: DocumentsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    page: PageParams,
) -> Entries:
    """This service's part of the convention's feed (`kernel.history.History.feed`)."""
    await ctx.replica.readable(session, convention_id, principal)
    visible = repo.history_visibility(HISTORY.table, principal.subject)
    return await HISTORY.feed(session, convention_id, page, visible=visible)
