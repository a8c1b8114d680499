"""A small app built with the kernel factory, to test the kernel on its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.app import create_service_app
from kernel.database import DbSession
from kernel.deprecation import Deprecation, deprecated
from kernel.errors import Conflict, NotFound
from kernel.etag import IfMatch, etag_for
from kernel.internal_token import CallingService, CurrentPrincipal
from kernel.pagination import Page, Pagination, decode_cursor, make_page
from kernel.principal import Principal
from kernel.reads import Read, columns
from kernel.rights import CAF_WRITERS, Right, RightRoute, ServiceRight
from kernel.settings import CommonSettings


class ToySettings(CommonSettings):
    app_name = "conventions"  # reuse a development key pair: tokens are addressed to it


router = APIRouter()


class Thing(BaseModel):
    nom: str = Field(max_length=20)
    quantite: int = Field(ge=0)


@router.post("/things")
async def create_thing(thing: Thing) -> Thing:
    return thing


# A deprecated operation, withdrawal announced; a field replaced by another.
OLD_ROUTE = Deprecation(
    dt.date(2026, 12, 4), sunset=dt.date(2027, 12, 31), link="https://coop.example/changements"
)


@router.get("/old-things/{thing_id}")
@deprecated(OLD_ROUTE)
async def old_thing(thing_id: int) -> Thing:
    if thing_id != 1:
        raise NotFound("Chose introuvable.")
    return Thing(nom="vieille", quantite=1)


class Measure(BaseModel):
    valeur: int = Field(description="La valeur.")
    ancienne_valeur: Annotated[int | None, Deprecation(dt.date(2026, 12, 4))] = Field(
        default=None, description="Obsolète : lisez `valeur`."
    )


@router.get("/measure")
async def measure() -> Measure:
    return Measure(valeur=3, ancienne_valeur=3)


@router.post("/measures")
async def record_measure(measure: Measure) -> dict[str, int]:
    return {"valeur": measure.valeur}


@router.get("/missing")
async def missing() -> None:
    raise NotFound("Convention introuvable.")


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("Transition refusée.", errors=[{"field": "statut", "message": "non signée"}])


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, object]:
    return {"subject": principal.subject, "grants": len(principal.grants)}


@router.get("/internal/v1/ping")
async def internal_ping(service: CallingService) -> dict[str, str]:
    return {"caller": service.subject}


@router.get("/numbers")
async def numbers(page: Pagination) -> Page[int]:
    start = decode_cursor(page.cursor, [int])[0] if page.cursor else 0
    rows = list(range(start + 1, min(start + page.limit + 1, 120) + 1))
    return make_page(rows, page.limit, key=lambda n: (n,), item=lambda n: n)


@router.put("/versioned/{version}")
async def versioned(version: int, preconditions: IfMatch) -> dict[str, str]:
    preconditions.check(etag_for("thing", version))
    return {"ok": "yes"}


@router.post("/probe")
async def write_probe(
    session: DbSession, value: Annotated[str, Body(embed=True)], fail: bool = False
) -> dict[str, str]:
    await session.execute(text("INSERT INTO public.kernel_probe (value) VALUES (:v)"), {"v": value})
    if fail:
        raise Conflict("Refus après écriture : rien ne doit rester.")
    return {"id": str(uuid.uuid4())}


async def _two_transaction_ids(session: DbSession) -> list[int]:
    return [
        (await session.execute(text("SELECT txid_current()"))).scalar_one(),
        (await session.execute(text("SELECT txid_current()"))).scalar_one(),
    ]


@router.post("/slow")
async def slow_write(session: DbSession) -> dict[str, str]:
    await session.execute(text("SELECT pg_sleep(0.5)"))
    return {"ok": "yes"}


class One(NamedTuple):
    one: int


_ONE: Read[One, None] = Read(
    One, lambda part: select(*columns(One, one=literal_column("1"))), variants=(None,)
)


@router.get("/compiled")
async def compiled_read(session: DbSession, fail: bool = False) -> list[int]:
    """A typed read (on the read pool's connection), refused after it if asked."""
    rows = await _ONE.all(session, None, {})
    if fail:
        raise Conflict("Refus après lecture.")
    return [row.one for row in rows]


@router.get("/transactions")
async def read_transactions(session: DbSession) -> list[int]:
    return await _two_transaction_ids(session)


@router.post("/transactions")
async def write_transactions(session: DbSession) -> list[int]:
    return await _two_transaction_ids(session)


# A right on an object: the "things" whose id ends in 1 are in every caller's scope.
async def _thing(
    request: Request, session: AsyncSession, principal: Principal, thing_id: uuid.UUID
) -> object:
    if thing_id.int % 16 != 1:
        raise NotFound("Chose introuvable.")
    return thing_id


ThingWrite = Annotated[
    Principal,
    Depends(
        ServiceRight(
            Right("ThingWrite", CAF_WRITERS, "Seuls les agents d'une Caf changent une chose."),
            on=("thing_id", _thing),
        )
    ),
]
rights_router = APIRouter(route_class=RightRoute)
touched: list[uuid.UUID] = []


@rights_router.patch("/things/{thing_id}")
async def patch_thing(thing_id: uuid.UUID, thing: Thing, principal: ThingWrite) -> Thing:
    touched.append(thing_id)
    return thing


def create_toy_app(**overrides: object) -> object:
    settings = ToySettings(**overrides)  # type: ignore[arg-type]
    return create_service_app(
        settings, title="toy", description="kernel tests", routers=[router, rights_router]
    )
