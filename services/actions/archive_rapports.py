"""Adopted bilans' reports kept as documents of their convention (worker job).

Adoption commits without waiting for the documents service or clamd: it only stores the
report (`Bilan.rapport`). This job (`actions.bilans-rapports`, `coop worker`) then sends
each adopted bilan's ODT and PDF to the documents service's internal route
(kernel.documents_systeme) and marks the bilan archived once both are kept. A failed
send (documents down, stalled, 5xx) leaves the bilan for the next run, so it is retried
until it succeeds; the route keeps one document per key, so a send repeated after a
lost answer keeps each file exactly once. A refusal no retry changes (a 4xx: the file
too large or of a refused type, the convention unknown…) is recorded on the bilan with
its French reason (`rapport_archivage_echec_le`, `rapport_archivage_motif`, shown by
the bilan's read) and the job stops sending it.
"""

from __future__ import annotations

import logging
import uuid

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.convention_ref import ConventionRef
from kernel.documents_systeme import put_document_systeme
from kernel.errors import NotFound
from kernel.internal_token import InternalTokenSigner
from services.actions import repository as repo
from services.actions.models import Bilan
from services.actions.rules import EtatBilan, TypeBilan
from services.actions.service_rapports import FormatRapport, nom_fichier, rapport_of, render

_log = logging.getLogger("coop.actions.rapports")
BATCH = 20
# The documents service's type of each kind's report ("Bilan …").
TYPE_DOCUMENT = {
    TypeBilan.point_etape: "Bilan point d'étape annuel",
    TypeBilan.intermediaire: "Bilan intermédiaire",
    TypeBilan.final: "Bilan final",
}


# 4xx answers a later send may change: a timeout, a concurrent send, a rate limit; and
# a refused token, which says the suite's keys are misconfigured (not this bilan):
# once fixed, every report waiting is kept without anyone's action.
RETRIED_4XX = frozenset({401, 408, 409, 429})


class ArchiveFailed(RuntimeError):
    """Some reports could not be kept this time: the job is retried."""


class ArchiveRefused(Exception):
    """The documents service refused a report for good: `motif` says why, in French."""

    def __init__(self, motif: str) -> None:
        super().__init__(motif)
        self.motif = motif


def _refusal(resp: httpx.Response, fmt: FormatRapport) -> str:
    """The documents service's reason (its problem's French `detail`), for the bilan."""
    try:
        detail = str(resp.json().get("detail") or "")
    except ValueError:
        detail = ""
    return (
        f"Le service des documents a refusé le rapport {fmt.value.upper()} "
        f"({resp.status_code}) : {detail or resp.reason_phrase}"
    )[:1000]


async def _pending(session: AsyncSession) -> list[uuid.UUID]:
    stmt = (
        select(Bilan.id)
        .where(
            Bilan.etat == EtatBilan.adopte.value,
            Bilan.rapport_archive_le.is_(None),
            Bilan.rapport_archivage_echec_le.is_(None),
        )
        .order_by(Bilan.adoption_saisie_le, Bilan.id)
        .limit(BATCH)
    )
    return list((await session.execute(stmt)).scalars())


async def _convention(session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef:
    ref = await repo.ref_by_id(session, convention_id)
    if ref is None:
        raise NotFound("Convention introuvable.")
    return ref


async def archive_one(
    session: AsyncSession,
    bilan_id: uuid.UUID,
    http: httpx.AsyncClient,
    signer: InternalTokenSigner,
    documents_url: str,
) -> None:
    bilan = await session.get(Bilan, bilan_id)
    assert bilan is not None
    convention = await _convention(session, bilan.convention_id)
    rapport = await rapport_of(session, bilan, convention, repo.utcnow())
    if bilan.rapport is None:  # adopted before reports existed: fixed now
        bilan.rapport = rapport.model_dump(mode="json")
    for fmt in FormatRapport:
        content = await render(rapport, fmt)
        resp = await put_document_systeme(
            http,
            documents_url,
            signer,
            bilan.convention_id,
            f"bilan-{bilan.id}.{fmt.value}",
            {
                "type": TYPE_DOCUMENT[TypeBilan(bilan.type)],
                "titre": rapport.titre,
                "nom_fichier": nom_fichier(rapport, fmt),
                "bilan_id": str(bilan.id),
            },
            content,
            fmt.media_type,
        )
        if resp.status_code in (200, 201):
            continue
        if 400 <= resp.status_code < 500 and resp.status_code not in RETRIED_4XX:
            raise ArchiveRefused(_refusal(resp, fmt))
        raise ArchiveFailed(f"documents service answered {resp.status_code}: {resp.text}")
    await session.execute(
        update(Bilan).where(Bilan.id == bilan.id).values(rapport_archive_le=repo.utcnow())
    )


async def _give_up(session: AsyncSession, bilan_id: uuid.UUID, motif: str) -> None:
    await session.execute(
        update(Bilan)
        .where(Bilan.id == bilan_id)
        .values(rapport_archivage_echec_le=repo.utcnow(), rapport_archivage_motif=motif)
    )
    await session.commit()


async def archive_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    signer: InternalTokenSigner,
    documents_url: str,
) -> int:
    """Keep the reports of adopted bilans not archived yet; returns how many were kept.
    Each bilan in its own transaction: one failing does not hold the others back."""
    async with sessionmaker() as session:
        pending = await _pending(session)
    kept, failed = 0, 0
    for bilan_id in pending:
        async with sessionmaker() as session:
            try:
                await archive_one(session, bilan_id, http, signer, documents_url)
                await session.commit()
                kept += 1
            except ArchiveRefused as refused:
                await session.rollback()
                await _give_up(session, bilan_id, refused.motif)
                _log.error(
                    "bilan report refused by the documents service, not retried",
                    extra={"fields": {"bilan": str(bilan_id), "motif": refused.motif}},
                )
            except (httpx.HTTPError, ArchiveFailed, NotFound):
                failed += 1
                _log.warning(
                    "bilan report not kept yet, retried",
                    exc_info=True,
                    extra={"fields": {"bilan": str(bilan_id)}},
                )
    if failed:
        raise ArchiveFailed(f"{failed} bilan report(s) not kept yet")
    return kept
