"""The right each route of the documents service requires (see `kernel.rights`).

The services keep the rules on the very document: who uploads on a convention
(`service.may_upload`), who manages a document (`service.may_manage`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.principal import Principal
from kernel.rights import WRITERS, Right, ServiceRight
from services.documents import service
from services.documents.context import DocumentsContext


async def _convention(
    request: Request, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> object:
    ctx: DocumentsContext = request.app.state.documents
    return await ctx.replica.readable(session, convention_id, principal)


async def _document(
    request: Request, session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> object:
    # In the bin or not: the same scope.
    return await service.load_document(session, principal, document_id, deleted=None)


DOCUMENT = ("document_id", _document)

# Whoever reads the convention, the document (the scope: 404 outside it).
ConventionRead = Annotated[
    Principal, Depends(ServiceRight(Right("ConventionRead"), on=("convention_id", _convention)))
]
DocumentRead = Annotated[Principal, Depends(ServiceRight(Right("DocumentRead"), on=DOCUMENT))]
# A new document: the Caf's agents and the contributeurs of a signatory collectivité.
# The convention is named in the form: the upload finds it, and refuses (404, 403).
DocumentUpload = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "DocumentUpload",
                WRITERS,
                "Seuls les agents de la Caf et les contributeurs des collectivités signataires "
                "déposent des documents.",
            ),
            object_in_body=True,
        )
    ),
]
# A document's title and type, a new version, the bin: the organisation that uploaded
# it and the Caf's agents.
DocumentWrite = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right(
                "DocumentWrite",
                WRITERS,
                "Seuls l'organisation qui a déposé le document et la Caf le modifient.",
            ),
            on=DOCUMENT,
        )
    ),
]
