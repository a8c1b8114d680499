"""Every SQL statement of the documents service."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    String,
    Table,
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
    ReadScope,
    ScopeKind,
    name_in,
    name_of,
    readable_replica,
    row_to_ref,
)
from kernel.database import contains_pattern
from kernel.pagination import after_keyset
from kernel.principal import Principal
from kernel.reads import Keyset, KeysetPage, Read, Slice, columns
from services.documents.models import (
    Contenu,
    Document,
    StatutAnalyse,
    TypeDocument,
    Version,
    convention_ref,
)


def _document_visibility(
    scope: ColumnElement[bool], subject: str | BindParameter[str]
) -> ColumnElement[bool]:
    """Readable convention, and content scanned clean (or the caller uploaded it).
    `subject`: the caller's, or a bind parameter in a statement built once (the list)."""
    return and_(
        scope, or_(Document.version_disponible.is_not(None), Document.depose_par == subject)
    )


def _version_visibility(subject: str | BindParameter[str]) -> ColumnElement[bool]:
    """Scanned clean, or the caller's own upload (`subject` as above)."""
    return or_(Version.statut == StatutAnalyse.disponible.value, Version.depose_par == subject)


def history_visibility(table: Table, subject: str) -> ColumnElement[bool]:
    """The history rows a reader of the convention sees: not those of a document, or of
    a version, that is still there and visible to its uploader only (nothing scanned
    clean yet: `_document_visibility`, `_version_visibility`); a purged document's
    rows as its record is seen."""
    hidden_document = exists().where(
        Document.id.in_([table.c.objet_id, table.c.parent_id]),
        ~_document_visibility(true(), subject),
    )
    hidden_version = exists().where(Version.id == table.c.objet_id, ~_version_visibility(subject))
    return ~or_(hidden_document, hidden_version)


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
    scope = ReadScope.of(principal)
    stmt = (
        select(Document, *convention_ref.c)
        .join(convention_ref, convention_ref.c.id == Document.convention_id)
        .where(
            Document.id == document_id,
            _document_visibility(readable_replica(convention_ref, scope.kind), principal.subject),
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
    row = (await session.execute(stmt, scope.params)).one_or_none()
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


class DocumentListed(NamedTuple):
    """What DocumentOut shows of a document's own columns."""

    id: uuid.UUID
    convention_id: uuid.UUID
    action_id: uuid.UUID | None
    bilan_id: uuid.UUID | None
    type: str
    titre: str
    description: str | None
    depose_par: str
    depose_par_nom: str | None
    organisation_id: uuid.UUID
    organisation_nom: str | None
    depose_le: dt.datetime
    modifie_le: dt.datetime
    supprime_le: dt.datetime | None
    systeme: bool


class VersionRow(NamedTuple):
    """What VersionOut shows of a version."""

    numero: int
    libelle: str | None
    nom_fichier: str
    taille: int
    type_contenu: str
    sha256: str
    statut: str
    signature: str | None
    motif: str | None
    echecs_analyse: int
    depose_par: str
    depose_par_nom: str | None
    organisation_id: uuid.UUID
    organisation_nom: str | None
    depose_le: dt.datetime
    analyse_le: dt.datetime | None


class DocumentPageRow(NamedTuple):
    document: DocumentListed
    # The newest version the caller may see (None: none of them).
    derniere_version: VersionRow | None


def _documents(in_bin: bool) -> Callable[[Slice[ScopeKind]], Select[Any]]:
    def build(part: Slice[ScopeKind]) -> Select[Any]:
        # The caller's own uploads are visible before their scan (bind parameter).
        subject = bindparam("subject", type_=String)
        deleted = (
            # A purged document has left the bin.
            and_(Document.supprime_le.is_not(None), Document.purge_le.is_(None))
            if in_bin
            else Document.supprime_le.is_(None)
        )
        docs = part.apply(
            select(
                *columns(
                    DocumentListed,
                    Document,
                    organisation_nom=name_of(convention_ref, Document.organisation_id),
                    systeme=Document.cle_systeme.is_not(None),
                ),
                convention_ref.c.noms,
            )
            .join(convention_ref, convention_ref.c.id == Document.convention_id)
            .where(
                _document_visibility(readable_replica(convention_ref, part.variant), subject),
                deleted,
            )
        ).subquery("docs")
        # The newest version each caller may see, joined to the page of documents (a
        # LATERAL over the page only): one statement and one round trip instead of two.
        latest = (
            select(
                *columns(
                    VersionRow,
                    Version,
                    # The names its convention gives (the page's row carries them).
                    organisation_nom=name_in(docs.c.noms, Version.organisation_id),
                )
            )
            .where(Version.document_id == docs.c.id, _version_visibility(subject))
            .order_by(Version.numero.desc())
            .limit(1)
            .lateral("latest")
        )
        return (
            select(*columns(DocumentPageRow, document=docs, derniere_version=latest))
            .select_from(docs)
            .outerjoin(latest, true())
            .order_by(docs.c.depose_le.desc(), docs.c.id.desc())
        )

    return build


def _documents_read(in_bin: bool) -> Read[DocumentPageRow, ScopeKind]:
    """Newest first, keyset on (depose_le, id) descending: the live documents, or the bin."""
    return Read(
        DocumentPageRow,
        _documents(in_bin),
        variants=ScopeKind,
        filters={
            "convention_id": lambda value: Document.convention_id == value,
            "action_id": lambda value: Document.action_id == value,
            "bilan_id": lambda value: Document.bilan_id == value,
            "type": lambda value: Document.type == value,
            "texte": lambda value: Document.titre.ilike(value, escape="\\"),
        },
        keyset=Keyset(
            (Document.depose_le, Document.id),
            descending=True,
            key=lambda row: (row.document.depose_le, row.document.id),
        ),
    )


DOCUMENTS = _documents_read(in_bin=False)
CORBEILLE = _documents_read(in_bin=True)


async def list_documents(
    session: AsyncSession,
    principal: Principal,
    filters: DocumentFilters,
    limit: int,
    cursor: str | None,
) -> KeysetPage[DocumentPageRow]:
    """A page of the documents the caller may see, each with its newest version."""
    scope = ReadScope.of(principal)
    params = {
        "subject": principal.subject,
        "convention_id": filters.convention_id,
        "action_id": filters.action_id,
        "bilan_id": filters.bilan_id,
        "type": filters.type.value if filters.type is not None else None,
        "texte": contains_pattern(filters.texte) if filters.texte else None,
        **scope.params,
    }
    read = CORBEILLE if filters.corbeille else DOCUMENTS
    return await read.page(session, scope.kind, params, limit=limit, cursor=cursor)


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


async def purge_bin(
    session: AsyncSession, deleted_before: dt.datetime, at: dt.datetime
) -> list[Document]:
    """Purge the documents in the bin since before `deleted_before`: each keeps its
    record (titre, type, its versions' names, sizes and SHA-256, who and when) and
    loses its content (its versions point to none any more; the description, free
    text, goes too). The documents purged, as they now stand."""
    purged = list(
        (
            await session.scalars(
                update(Document)
                .where(
                    Document.supprime_le.is_not(None),
                    Document.supprime_le < deleted_before,
                    Document.purge_le.is_(None),
                )
                .values(purge_le=at, description=None, revision=Document.revision + 1)
                .returning(Document)
            )
        ).all()
    )
    if purged:
        await session.execute(
            update(Version)
            .where(Version.document_id.in_([d.id for d in purged]))
            .values(contenu_sha256=None)
        )
    return purged


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
