"""Large exports run as jobs: asked for, written by `coop worker`, downloaded, expired.

The issue (26): "large ones (a Caf or the nation) run as a job on the suite's job queue
with a status, and their file is downloadable for 24 hours by the person who asked (same
scope check at download), then deleted".

- A request (`demander`) checks the kind's rules for the caller (`GenreExport.autoriser`,
  export_genres.py) and stores the export `en attente`, with the caller's principal:
  the job has no token, and scopes its SQL with the grants the request had.
- The job `actions.exports` (`run_pending`) takes the waiting exports one after the
  other and writes each file (`_write`): the kind's sheets through the kernel's writers,
  in pieces of `PIECE_BYTES` inserted as they come, in one transaction that ends by
  marking it `prêt`, so a failure or a crash leaves no piece of it. A failure marks it
  `échec` with a French message; a run whose worker died is taken again after `LEASE`,
  `MAX_TENTATIVES` times at most.
- Only the requester reads an export, lists it, downloads its file (anyone else: 404),
  and at each download the kind's rules are checked again with the caller's current
  grants (a grant revoked since: 404). `EXPORT_TTL` after its end, an export answers
  404 and `actions.export-purge` deletes it with its file.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.errors import Conflict, DomainError, NotFound, TooManyRequests
from kernel.pagination import keyset_page
from kernel.principal import Principal
from kernel.sniffing import name_from_title
from kernel.tabular import Sheet, csv_chunks, ods_chunks, xlsx_chunks
from services.actions import repository_export_jobs as jrepo
from services.actions.dependencies import ActionsContext
from services.actions.export_campagne import CAMPAGNE_CAF, DemandeCampagneCaf
from services.actions.export_genres import DemandeExport, GenreExport, TypeExport
from services.actions.models import Export
from services.actions.schemas_exports import EtatExport, ExportOut
from services.actions.service_exports import FormatExport
from services.actions.service_exports_national import NATIONAL, DemandeNational
from services.actions.settings import ActionsSettings

_log = logging.getLogger("coop.actions")

# Every kind of large export (export_genres.py says how to add one).
GENRES: dict[TypeExport, GenreExport[Any]] = {
    TypeExport.campagne_caf: CAMPAGNE_CAF,
    TypeExport.national: NATIONAL,
}
# The request's body: one kind's request, told apart by `type`.
DemandeExportIn = Annotated[DemandeCampagneCaf | DemandeNational, Field(discriminator="type")]

# How long a finished export (its file, or its failure) is kept: the one retention rule
# of exports (then 404, and deleted by `actions.export-purge`).
EXPORT_TTL = dt.timedelta(hours=24)
# Exports waiting or running per person at most: each one is a job holding a worker.
MAX_EN_ATTENTE = 3
# A run still `en cours` this long after it began has lost its worker (an export takes
# a minute at most, the nation's included): it is taken again, a few times at most.
LEASE = dt.timedelta(minutes=15)
MAX_TENTATIVES = 3
# The file is stored in pieces of this size (a row each), written as the writer yields.
PIECE_BYTES = 1024 * 1024
# What a client polling an export waiting or running is told to wait (seconds).
RETRY_AFTER = "2"
ERREUR_INTERNE = (
    "L'export a échoué sur une erreur interne, signalée à l'équipe : demandez-le de "
    "nouveau dans quelques minutes."
)


def path_of(export_id: uuid.UUID) -> str:
    return f"/api/v1/exports/{export_id}"


def out(export: Export) -> ExportOut:
    ready = export.etat == EtatExport.pret.value
    return ExportOut(
        id=export.id,
        type=TypeExport(export.type),
        format=FormatExport(export.format),
        parametres=export.parametres,
        etat=EtatExport(export.etat),
        message=export.message,
        nom_fichier=export.nom_fichier,
        taille=export.taille,
        fichier=f"{path_of(export.id)}/fichier" if ready else None,
        cree_le=export.created_at,
        fini_le=export.fini_le,
        expire_le=export.expire_le,
    )


def pending(export: Export) -> bool:
    return export.etat in (EtatExport.en_attente.value, EtatExport.en_cours.value)


async def demander(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, demande: DemandeExport
) -> Export:
    """A new export `en attente`, for a caller the kind allows (nothing written
    otherwise)."""
    genre: GenreExport[Any] = GENRES[TypeExport(demande.model_dump()["type"])]
    now = ctx.settings.now()
    await jrepo.lock_requester(session, principal.subject)
    if await jrepo.count_pending(session, principal.subject, now) >= MAX_EN_ATTENTE:
        raise TooManyRequests(
            f"Vous avez déjà {MAX_EN_ATTENTE} exports en attente ou en cours : attendez "
            "que l'un d'eux se termine.",
            headers={"Retry-After": "30"},
        )
    complete, fichier = await genre.autoriser(session, principal, demande, ctx.today())
    fmt = FormatExport(complete.format)
    export = Export(
        id=uuid.uuid4(),
        demandeur_id=principal.subject,
        demandeur=principal.model_dump(mode="json"),
        type=complete.model_dump()["type"],
        format=fmt.value,
        parametres=complete.model_dump(mode="json", exclude={"type", "format"}),
        etat=EtatExport.en_attente.value,
        nom_fichier=f"{name_from_title(fichier.nom)}.{fmt.value}",
        titre=fichier.titre[:300],
        tentatives=0,
        created_at=now,
        expire_le=now + EXPORT_TTL,
    )
    session.add(export)
    await session.flush()
    return export


async def lire(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, export_id: uuid.UUID
) -> Export:
    """The caller's own export, not expired (404 otherwise, for anyone else alike)."""
    export = await jrepo.own(session, export_id, principal.subject, ctx.settings.now())
    if export is None:
        raise NotFound("Export introuvable (ou expiré).")
    return export


async def lister(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Export], str | None]:
    rows = await jrepo.own_page(session, principal.subject, ctx.settings.now(), limit, cursor)
    return keyset_page(rows, limit, lambda e: (e.created_at, e.id))


def _demande(export: Export) -> tuple[GenreExport[Any], DemandeExport]:
    genre: GenreExport[Any] = GENRES[TypeExport(export.type)]
    fields = {"type": export.type, "format": export.format, **export.parametres}
    return genre, genre.demande.model_validate(fields)


async def a_telecharger(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, export_id: uuid.UUID
) -> Export:
    """The caller's own export, ready, and still within what the caller may read today
    (the kind's rules again, with the caller's current grants: outside them, 404)."""
    export = await lire(ctx, session, principal, export_id)
    if export.etat != EtatExport.pret.value:
        raise Conflict(
            f"L'export n'a pas de fichier (état : {export.etat}).",
            headers={"Retry-After": RETRY_AFTER} if pending(export) else None,
        )
    genre, demande = _demande(export)
    try:
        await genre.autoriser(session, principal, demande, ctx.today())
    except DomainError:
        # Whatever the kind now refuses this caller (a grant revoked…): as if not there.
        raise NotFound("Export introuvable (ou expiré).") from None
    return export


async def file_pieces(
    sessionmaker: async_sessionmaker[AsyncSession], export_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """The export's file, piece by piece, each read on its own (no connection held while
    a slow client takes a piece)."""
    numero = -1
    while True:
        async with sessionmaker() as session:
            found = await jrepo.piece_after(session, export_id, numero)
        if found is None:
            return
        numero, data = found
        yield data


def _chunks(fmt: FormatExport, sheets: Sequence[Sheet], titre: str) -> AsyncIterator[bytes]:
    if fmt is FormatExport.csv:
        return csv_chunks(sheets[0])  # a CSV file holds one sheet: the first
    if fmt is FormatExport.xlsx:
        return xlsx_chunks(*sheets)
    return ods_chunks(*sheets, title=titre)


def job_today(settings: ActionsSettings) -> dt.date:
    """The day the job's rules use (lateness), as the app's own `today`."""
    return settings.now().astimezone().date()


async def _write(session: AsyncSession, export: Export, today: dt.date) -> int:
    """The export's file written in pieces (none left from a run cut short): its size."""
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    await jrepo.delete_file(session, export.id)
    genre, demande = _demande(export)
    principal = Principal.model_validate(export.demandeur)
    sheets = await genre.feuilles(session, principal, demande, today)
    size, numero, buffer = 0, 0, bytearray()
    async for chunk in _chunks(FormatExport(export.format), sheets, export.titre):
        buffer += chunk
        while len(buffer) >= PIECE_BYTES:
            await jrepo.add_piece(session, export.id, numero, bytes(buffer[:PIECE_BYTES]))
            del buffer[:PIECE_BYTES]
            numero, size = numero + 1, size + PIECE_BYTES
    if buffer or numero == 0:
        await jrepo.add_piece(session, export.id, numero, bytes(buffer))
        size += len(buffer)
    return size


async def run_one(
    sessionmaker: async_sessionmaker[AsyncSession], settings: ActionsSettings, export: Export
) -> EtatExport:
    """Write a claimed export's file and mark it `prêt`, or `échec` with its message."""
    message: str | None = None
    if export.tentatives > MAX_TENTATIVES:
        message = (
            f"L'export a été interrompu {MAX_TENTATIVES} fois sans aboutir : demandez-le de "
            "nouveau, ou un export plus petit."
        )
    else:
        async with sessionmaker() as session:
            try:
                size = await _write(session, export, job_today(settings))
                now = settings.now()
                await jrepo.finish(
                    session, export.id, EtatExport.pret, now, now + EXPORT_TTL, taille=size
                )
                await session.commit()
                return EtatExport.pret
            except DomainError as exc:
                await session.rollback()
                message = exc.detail
            except Exception:
                await session.rollback()
                _log.exception("export failed", extra={"fields": {"export": str(export.id)}})
                message = ERREUR_INTERNE
    async with sessionmaker() as session:
        now = settings.now()
        await jrepo.finish(
            session, export.id, EtatExport.echec, now, now + EXPORT_TTL, message=message
        )
        await session.commit()
    return EtatExport.echec


async def run_pending(
    sessionmaker: async_sessionmaker[AsyncSession], settings: ActionsSettings
) -> int:
    """The job `actions.exports`: every export waiting, one after the other (the oldest
    first); how many ran."""
    ran = 0
    while True:
        async with sessionmaker() as session:
            export = await jrepo.claim(session, settings.now(), LEASE)
            await session.commit()
        if export is None:
            return ran
        await run_one(sessionmaker, settings, export)
        ran += 1
