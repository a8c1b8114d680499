"""Every SQL statement of the documents service."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import (
    ConventionRef,
    ScopeShape,
    readable_clause,
    readable_shape_clause,
    row_to_ref,
    scope_params,
)
from kernel.database import CompiledQuery, attribute_rows, contains_pattern
from kernel.pagination import KeyColumn, after_keyset, after_keyset_params, keyset_params
from kernel.principal import Principal
from services.documents.models import (
    Contenu,
    Document,
    StatutAnalyse,
    TypeDocument,
    Version,
    convention_ref,
)


def _document_visibility(scope: ColumnElement[bool], subject: Any) -> ColumnElement[bool]:
    """Readable convention, and content scanned clean (or the caller uploaded it).
    `subject`: the caller's, or a bind parameter in a statement built once (the list)."""
    return and_(
        scope, or_(Document.version_disponible.is_not(None), Document.depose_par == subject)
    )


def _version_visibility(subject: Any) -> ColumnElement[bool]:
    """Scanned clean, or the caller's own upload (`subject` as above)."""
    return or_(Version.statut == StatutAnalyse.disponible.value, Version.depose_par == subject)


async def convention_of(session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef | None:
    """The replica's row; the caller checks the scope (`ConventionRef.readable_by`)."""
    row = (
        await session.execute(select(convention_ref).where(convention_ref.c.id == convention_id))
    ).one_or_none()
    return None if row is None else row_to_ref(row)


async def get_document(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    *,
    deleted: bool | None = False,
    for_update: bool = False,
    purged: bool = False,
) -> tuple[Document, ConventionRef] | None:
    """The document with its convention, only if in the caller's scope.

    `deleted`: False = live only, True = in the bin only, None = either. `purged`: the
    record of a document purged from the bin instead (its content is gone).
    """
    stmt = (
        select(Document, *convention_ref.c)
        .join(convention_ref, convention_ref.c.id == Document.convention_id)
        .where(
            Document.id == document_id,
            _document_visibility(readable_clause(convention_ref, principal), principal.subject),
        )
    )
    if purged:
        stmt = stmt.where(Document.purge_le.is_not(None))
    else:
        stmt = stmt.where(Document.purge_le.is_(None))
        if deleted is True:
            stmt = stmt.where(Document.supprime_le.is_not(None))
        elif deleted is False:
            stmt = stmt.where(Document.supprime_le.is_(None))
    if for_update:
        stmt = stmt.with_for_update(of=Document)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    return row[0], row_to_ref(row._mapping)


@dataclass(frozen=True)
class DocumentFilters:
    convention_id: uuid.UUID | None = None
    action_id: uuid.UUID | None = None
    bilan_id: uuid.UUID | None = None
    type: TypeDocument | None = None
    texte: str | None = None
    corbeille: bool = False


# Newest first: the documents page's sort key, its cursor's content.
_DOCUMENT_KEYSET: list[KeyColumn] = [Document.depose_le, Document.id]


@functools.lru_cache(maxsize=512)
def _page_statement(
    scope: ScopeShape, corbeille: bool, filters: frozenset[str], resume: bool
) -> tuple[CompiledQuery, list[str], list[str]]:
    """The page statement for one shape of request (scope, bin or not, which filters,
    first page or not), built once: building it (a subquery and a LATERAL, their column
    collections) cost more CPU than running it. Values are bind parameters."""
    subject = bindparam("subject", type_=String)
    stmt = (
        select(Document)
        .join(convention_ref, convention_ref.c.id == Document.convention_id)
        .where(_document_visibility(readable_shape_clause(convention_ref, scope), subject))
    )
    if corbeille:  # a purged document has left the bin
        stmt = stmt.where(Document.supprime_le.is_not(None), Document.purge_le.is_(None))
    else:
        stmt = stmt.where(Document.supprime_le.is_(None))
    for name in sorted(filters):
        if name == "texte":
            stmt = stmt.where(Document.titre.ilike(bindparam("texte"), escape="\\"))
        else:
            stmt = stmt.where(getattr(Document, name) == bindparam(name))
    if resume:
        stmt = stmt.where(after_keyset_params(_DOCUMENT_KEYSET, descending=True))
    stmt = stmt.order_by(Document.depose_le.desc(), Document.id.desc()).limit(bindparam("limit"))
    # The newest version each caller may see, joined to the page of documents (a LATERAL
    # over the page only): one statement and one round trip instead of two. Core rows,
    # not ORM instances: building 100 instances cost more CPU than the whole query.
    docs = stmt.subquery("docs")
    latest = (
        select(Version.__table__)
        .where(Version.document_id == docs.c.id, _version_visibility(subject))
        .order_by(Version.numero.desc())
        .limit(1)
        .lateral("latest")
    )
    paired = (
        select(*docs.c, *[c.label(f"version_{c.name}") for c in latest.c])
        .select_from(docs)
        .outerjoin(latest, true())
        .order_by(docs.c.depose_le.desc(), docs.c.id.desc())
    )
    return CompiledQuery(paired), [c.name for c in docs.c], [c.name for c in latest.c]


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    filters: DocumentFilters,
    limit: int,
    cursor: str | None,
) -> list[tuple[Any, Any]]:
    """Newest first, keyset on (depose_le, id) descending; each with its latest version
    (or None). Read-only rows with the attributes of Document and Version; ``limit + 1``
    of them (the extra one only says there is a next page)."""
    params: dict[str, Any] = {
        "subject": principal.subject,
        "limit": limit + 1,
        **scope_params(principal),
    }
    if filters.convention_id is not None:
        params["convention_id"] = filters.convention_id
    if filters.action_id is not None:
        params["action_id"] = filters.action_id
    if filters.bilan_id is not None:
        params["bilan_id"] = filters.bilan_id
    if filters.type is not None:
        params["type"] = filters.type.value
    if filters.texte:
        params["texte"] = contains_pattern(filters.texte)
    if cursor is not None:
        params.update(keyset_params(cursor, _DOCUMENT_KEYSET))
    used = frozenset(params) & {"convention_id", "action_id", "bilan_id", "type", "texte"}
    query, doc_names, version_names = _page_statement(
        ScopeShape.of(principal), filters.corbeille, used, cursor is not None
    )
    rows = await query.fetch(session, params)
    # The version is None when the caller may see none of them (outer join).
    return [tuple(attribute_rows(r, doc_names, version_names)) for r in rows]


async def latest_version(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Version | None:
    """The newest version of the document the caller may see."""
    stmt = (
        select(Version)
        .where(Version.document_id == document_id, _version_visibility(principal.subject))
        .order_by(Version.numero.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def versions_page(
    session: AsyncSession,
    principal: Principal,
    document_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> list[Version]:
    """The versions the caller may see, newest first, keyset on `numero` descending;
    ``limit + 1`` rows (the extra one only says there is a next page)."""
    stmt = select(Version).where(
        Version.document_id == document_id, _version_visibility(principal.subject)
    )
    resume = after_keyset([Version.numero], cursor, descending=True)
    if resume is not None:
        stmt = stmt.where(resume)
    stmt = stmt.order_by(Version.numero.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def version_with_key(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID, numero: int | None
) -> tuple[Version, str | None] | None:
    """A version (the newest one available when `numero` is None) and its storage key."""
    stmt = (
        select(Version, Contenu.cle)
        .outerjoin(Contenu, Contenu.sha256 == Version.contenu_sha256)
        .where(Version.document_id == document_id, _version_visibility(principal.subject))
    )
    if numero is None:
        stmt = stmt.where(Version.statut == StatutAnalyse.disponible.value).order_by(
            Version.numero.desc()
        )
    else:
        stmt = stmt.where(Version.numero == numero)
    row = (await session.execute(stmt.limit(1))).one_or_none()
    return None if row is None else (row[0], row[1])


async def next_version_number(session: AsyncSession, document_id: uuid.UUID) -> int:
    current = (
        await session.execute(
            select(func.coalesce(func.max(Version.numero), 0)).where(
                Version.document_id == document_id
            )
        )
    ).scalar_one()
    return int(current) + 1


async def ensure_contenu(session: AsyncSession, sha256: str, size: int, key: str) -> None:
    stmt = insert(Contenu).values(sha256=sha256, taille=size, cle=key)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[Contenu.sha256]))


async def lock_document(session: AsyncSession, document_id: uuid.UUID) -> None:
    """Serialise version numbering of one document."""
    await session.execute(select(Document.id).where(Document.id == document_id).with_for_update())


async def pending_versions(
    session: AsyncSession, limit: int, after: tuple[dt.datetime, uuid.UUID] | None = None
) -> list[tuple[Version, str]]:
    """Versions waiting for a verdict, oldest first, after the keyset `after`; locked, and
    those another rescan holds are skipped."""
    stmt = (
        select(Version, Contenu.cle)
        .join(Contenu, Contenu.sha256 == Version.contenu_sha256)
        .where(Version.statut == StatutAnalyse.en_analyse.value)
    )
    if after is not None:
        stmt = stmt.where(tuple_(Version.depose_le, Version.id) > tuple_(*after))
    stmt = (
        stmt.order_by(Version.depose_le, Version.id)
        .limit(limit)
        .with_for_update(of=Version, skip_locked=True)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def requeue_unanalysable(session: AsyncSession) -> int:
    """Rejected versions clamd could not analyse (no signature, content kept) go back to
    `en_analyse` with their error count reset. Infected ones have no content: untouched."""
    result = await session.execute(
        update(Version)
        .where(
            Version.statut == StatutAnalyse.rejete.value,
            Version.signature.is_(None),
            Version.contenu_sha256.is_not(None),
        )
        .values(
            statut=StatutAnalyse.en_analyse.value, echecs_analyse=0, motif=None, analyse_le=None
        )
        .returning(Version.id)
    )
    return len(result.all())


async def mark_document_available(session: AsyncSession, document_id: uuid.UUID) -> None:
    """The newest clean version number becomes the document's readable one."""
    newest = (
        select(func.max(Version.numero))
        .where(
            Version.document_id == document_id,
            Version.statut == StatutAnalyse.disponible.value,
        )
        .scalar_subquery()
    )
    await session.execute(
        update(Document).where(Document.id == document_id).values(version_disponible=newest)
    )


async def purge_bin(session: AsyncSession, deleted_before: dt.datetime, at: dt.datetime) -> int:
    """Purge the documents in the bin since before `deleted_before`: each keeps its
    record (titre, type, its versions' names, sizes and SHA-256, who and when) and
    loses its content (its versions point to none any more; the description, free
    text, goes too). How many."""
    purged = (
        (
            await session.execute(
                update(Document)
                .where(
                    Document.supprime_le.is_not(None),
                    Document.supprime_le < deleted_before,
                    Document.purge_le.is_(None),
                )
                .values(purge_le=at, description=None, revision=Document.revision + 1)
                .returning(Document.id)
            )
        )
        .scalars()
        .all()
    )
    if purged:
        await session.execute(
            update(Version).where(Version.document_id.in_(purged)).values(contenu_sha256=None)
        )
    return len(purged)


# Namespace of the per-content advisory locks (two-key form: apart from one-key locks).
_CONTENU_LOCK = "coop.documents.contenu"


async def lock_contenu(session: AsyncSession, sha256: str) -> None:
    """Serialise, per SHA-256, attaching a version to stored content (upload) and deleting
    that content (purge, rescan, cleanup). Transaction-level: released at commit or
    rollback, so it cannot leak with a pooled connection."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(_CONTENU_LOCK), func.hashtext(sha256)))
    )


async def unreferenced_contenus(session: AsyncSession) -> list[str]:
    """SHA-256 of the content rows no version points to (candidates only: re-checked
    under the content's lock before anything is deleted)."""
    result = await session.execute(
        select(Contenu.sha256)
        .where(~exists().where(Version.contenu_sha256 == Contenu.sha256))
        .order_by(Contenu.sha256)
    )
    return list(result.scalars())


async def known_contenus(session: AsyncSession, shas: Sequence[str]) -> set[str]:
    if not shas:
        return set()
    rows = await session.execute(select(Contenu.sha256).where(Contenu.sha256.in_(shas)))
    return set(rows.scalars())


async def drop_contenu_if_unreferenced(session: AsyncSession, sha256: str) -> str | None:
    """Delete a content row once no version points to it; its storage key, if deleted."""
    result = await session.execute(
        delete(Contenu)
        .where(
            Contenu.sha256 == sha256,
            ~exists().where(Version.contenu_sha256 == Contenu.sha256),
        )
        .returning(Contenu.cle)
    )
    row = result.one_or_none()
    return None if row is None else str(row[0])
