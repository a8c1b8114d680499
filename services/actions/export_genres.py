"""The kinds of large export (`POST /api/v1/exports`), as each declares itself.

A large export is asked for through the API and written later by the job
`actions.exports` (service_export_jobs.py), which knows nothing of what is in it. A
kind of export is:

- a `TypeExport` value (`campagne-caf`…): the `type` of the request's body;
- its request, a `DemandeExport` subclass whose `type` is that value (a `Literal`),
  with the kind's parameters as fields (French `Field(description=...)`); it joins the
  union `service_export_jobs.DemandeExportIn`, so the OpenAPI shows each kind's body
  and an unknown type is a French 422;
- a `GenreExport`: `demande` (that class), `autoriser` and `feuilles`, entered in
  `service_export_jobs.GENRES`.

`autoriser(session, principal, demande, today)` runs at the request and again at each
download, with the caller's principal: it raises what the caller is told (`NotFound`
outside their scope, `Forbidden` for a role that never may, `InvalidPayload` for a
parameter that cannot be), and returns the request completed (defaults resolved, e.g.
a Caf agent's own Caf: what is stored and what the job gets) and the file's `Fichier`.

`feuilles(session, principal, demande, today)` runs in the job, with the principal as
the request saw it (the job has no token: the grants are stored with the export), and
returns the file's `kernel.tabular.Sheet`s. Their rows are async iterators streaming
from SQL on `session` (`await session.stream(stmt, params)`, rows built one at a
time), scoped in SQL by the principal exactly like the API (`ReadScope.of(principal)`,
`readable_replica`): never a list of the whole export. The job writes the sheets
through the kernel's writers into the export's file as they yield, in the transaction
that marks the export ready (REPEATABLE READ: every sheet sees one snapshot); whatever
`feuilles` or a row raises marks it failed, with a `DomainError`'s French detail as its
message (any other error: a generic one, logged), and leaves no file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.input import Input
from kernel.principal import Principal
from kernel.tabular import Sheet
from services.actions.service_exports import FormatExport


class TypeExport(StrEnum):
    """Le genre d'un export volumineux : ce qu'il contient."""

    campagne_caf = "campagne-caf"
    national = "national"


class DemandeExport(Input):
    """Une demande d'export : son genre (`type`) et le format du fichier."""

    # Base of every kind's request: `type` is a `Literal` in each subclass.

    format: FormatExport = Field(
        default=FormatExport.ods,
        description="Format du fichier : ods (par défaut), xlsx ou csv (sa première feuille).",
    )


@dataclass(frozen=True)
class Fichier:
    """The file's name (without its extension; made safe at download) and its title (the
    ODS document's)."""

    nom: str
    titre: str


D = TypeVar("D", bound=DemandeExport)


@dataclass(frozen=True)
class GenreExport(Generic[D]):
    """A kind of large export (see the module's docstring)."""

    demande: type[D]
    autoriser: Callable[[AsyncSession, Principal, D, dt.date], Awaitable[tuple[D, Fichier]]]
    feuilles: Callable[[AsyncSession, Principal, D, dt.date], Awaitable[Sequence[Sheet]]]
