"""FastAPI dependencies of the documents service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.documents.context import DocumentsContext


async def documents_context(request: Request) -> DocumentsContext:
    ctx: DocumentsContext = request.app.state.documents
    return ctx


Context = Annotated[DocumentsContext, Depends(documents_context)]
