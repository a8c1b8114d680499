"""The kernel's Idempotency-Key, on a small app of its own: replays, reuse with another
body, concurrent twins, errors, secrets, expiry, streamed bodies. Every app's POSTs use
this route class; their own tests show a retry stores nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.app import create_service_app
from kernel.database import DbSession
from kernel.errors import Conflict
from kernel.idempotency import IdempotentRoute, idempotency_table, secret_field
from kernel.input import Input
from kernel.jobs import idempotency_purge_job, job_resources
from kernel.settings import CommonSettings
from tests.support.apps import running
from tests.support.personas import CAF_A_ADMIN, CAF_A_AGENT, auth_headers

# The conventions service's table serves the toy app (same schema as any app's).
KEYS = idempotency_table(MetaData(schema="conventions"))


class ToySettings(CommonSettings):
    app_name = "conventions"  # a development key pair the personas' tokens are signed for


class ThingIn(Input):
    nom: str


class Created(BaseModel):
    id: str
    nom: str
    jeton: str | None = secret_field("Remis une fois.")


@dataclass
class Runs:
    """What the endpoints did, and a gate a test may hold them at."""

    count: int = 0
    gate: asyncio.Event | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    streamed: list[int] = field(default_factory=list)


router = APIRouter(route_class=IdempotentRoute)


@router.post("/things", status_code=201)
async def create_thing(
    data: ThingIn, request: Request, session: DbSession, response: Response
) -> Created:
    runs: Runs = request.app.state.runs
    runs.count += 1
    # A write in the request's transaction: kept or undone with the key.
    await session.execute(text("SELECT 1"))
    runs.started.set()
    if runs.gate is not None:
        await runs.gate.wait()
    if data.nom == "refus":
        raise Conflict("Refusé.")
    thing_id = str(uuid.uuid4())
    response.headers["Location"] = f"/things/{thing_id}"
    response.headers["ETag"] = f'"{thing_id}.1"'
    return Created(id=thing_id, nom=data.nom, jeton=f"secret-{thing_id}")


@router.post("/signals")
async def bodiless(request: Request) -> dict[str, int]:
    runs: Runs = request.app.state.runs
    runs.count += 1
    return {"run": runs.count}


@router.post("/uploads", status_code=201)
async def upload(request: Request) -> dict[str, int]:
    """Reads its (multipart) body itself, as the documents service does."""
    runs: Runs = request.app.state.runs
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    runs.count += 1
    runs.streamed.append(size)
    return {"taille": size}


def toy_app(database_url: str) -> FastAPI:
    app = create_service_app(
        ToySettings(database_url=database_url),
        title="toy",
        description="idempotency",
        routers=[router],
        idempotency_keys=KEYS,
    )
    app.state.runs = Runs()
    return app


@pytest.fixture
async def toy(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Runs]]:
    app = toy_app(database_url)
    async with running(app) as client:
        yield client, app.state.runs


def h(key: str | None = None, who: object = CAF_A_AGENT) -> dict[str, str]:
    headers = auth_headers(who, "conventions")  # type: ignore[arg-type]
    if key is not None:
        headers["idempotency-key"] = key
    return headers


async def test_a_retry_gets_the_first_answer_and_runs_nothing(
    toy: tuple[httpx.AsyncClient, Runs],
) -> None:
    client, runs = toy
    first = await client.post("/things", json={"nom": "a"}, headers=h("k1"))
    again = await client.post("/things", json={"nom": "a"}, headers=h("k1"))
    assert (first.status_code, again.status_code, runs.count) == (201, 201, 1)
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert again.json()["id"] == first.json()["id"]
    # Without a key, every POST runs.
    await client.post("/things", json={"nom": "a"}, headers=h())
    assert runs.count == 2


async def test_the_same_key_with_another_body_is_a_409(toy: tuple[httpx.AsyncClient, Runs]) -> None:
    client, runs = toy
    await client.post("/things", json={"nom": "a"}, headers=h("k2"))
    other = await client.post("/things", json={"nom": "b"}, headers=h("k2"))
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency-key-reused"
    assert runs.count == 1
    # Another route is another request too.
    assert (await client.post("/signals", headers=h("k2"))).status_code == 409


async def test_keys_are_per_principal(toy: tuple[httpx.AsyncClient, Runs]) -> None:
    client, runs = toy
    a = await client.post("/things", json={"nom": "a"}, headers=h("k3"))
    b = await client.post("/things", json={"nom": "a"}, headers=h("k3", CAF_A_ADMIN))
    assert a.json()["id"] != b.json()["id"]
    assert runs.count == 2


async def test_a_refused_request_keeps_no_key(toy: tuple[httpx.AsyncClient, Runs]) -> None:
    client, runs = toy
    assert (await client.post("/things", json={"nom": "refus"}, headers=h("k4"))).status_code == 409
    # The key is free again: the corrected request runs.
    ok = await client.post("/things", json={"nom": "accepté"}, headers=h("k4"))
    assert ok.status_code == 201
    assert runs.count == 2


async def test_a_key_is_1_to_200_characters(toy: tuple[httpx.AsyncClient, Runs]) -> None:
    client, runs = toy
    resp = await client.post("/things", json={"nom": "a"}, headers=h("k" * 201))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "Idempotency-Key"
    assert runs.count == 0


async def test_concurrent_twins_never_both_run(toy: tuple[httpx.AsyncClient, Runs]) -> None:
    """The first holds its key's row until it commits: the twin waits, then replays."""
    client, runs = toy
    runs.gate = asyncio.Event()
    first = asyncio.create_task(client.post("/things", json={"nom": "a"}, headers=h("k5")))
    await runs.started.wait()  # the first has claimed its key and is running
    twin = asyncio.create_task(client.post("/things", json={"nom": "a"}, headers=h("k5")))
    done, _ = await asyncio.wait({twin}, timeout=0.5)
    assert not done  # blocked on the first's key, not running
    runs.gate.set()
    a, b = await first, await twin
    assert (a.status_code, b.status_code, runs.count) == (201, 201, 1)
    assert b.headers["idempotent-replayed"] == "true"
    assert b.json()["id"] == a.json()["id"]


async def test_a_secret_is_not_kept_for_a_replay(
    toy: tuple[httpx.AsyncClient, Runs], db_engine: AsyncEngine
) -> None:
    client, _ = toy
    first = await client.post("/things", json={"nom": "a"}, headers=h("k6"))
    secret = first.json()["jeton"]
    assert secret.startswith("secret-")
    again = await client.post("/things", json={"nom": "a"}, headers=h("k6"))
    assert again.json() == {**first.json(), "jeton": None}
    assert again.headers["x-coop-secret-omis"] == "jeton"
    async with db_engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT body::text, headers::text FROM conventions.idempotency_keys")
            )
        ).all()
    assert stored
    assert all(secret not in body + headers for body, headers in stored)


async def test_an_expired_key_is_free_and_purged(database_url: str, db_engine: AsyncEngine) -> None:
    app = toy_app(database_url)
    async with running(app) as client:
        first = await client.post("/things", json={"nom": "a"}, headers=h("k7"))
        async with db_engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE conventions.idempotency_keys "
                    "SET created_at = now() - interval '25 hours'"
                )
            )
        # Past the retention (24 h by default) the key means nothing: another body runs.
        other = await client.post("/things", json={"nom": "b"}, headers=h("k7"))
        assert other.status_code == 201
        assert other.json()["id"] != first.json()["id"]
        await client.post("/things", json={"nom": "c"}, headers=h("k8"))
        async with db_engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE conventions.idempotency_keys "
                    "SET created_at = now() - interval '25 hours' WHERE key = 'k8'"
                )
            )
        # The app's purge job (run hourly by `coop worker`) deletes the expired key.
        settings = ToySettings(database_url=database_url)
        async with job_resources(settings) as resources:
            job = idempotency_purge_job(settings, KEYS, resources)
            assert job.name == "conventions.idempotency-purge"
            assert await job.work() == 1
        async with db_engine.connect() as conn:
            keys = (
                await conn.execute(text("SELECT key FROM conventions.idempotency_keys"))
            ).scalars()
            assert list(keys) == ["k7"]


async def test_a_post_without_body_model_replays(toy: tuple[httpx.AsyncClient, Runs]) -> None:
    client, runs = toy
    first = await client.post("/signals", headers=h("k9"))
    again = await client.post("/signals", headers=h("k9"))
    assert again.json() == first.json() == {"run": 1}
    assert runs.count == 1


async def test_a_streamed_body_is_hashed_as_it_streams(
    toy: tuple[httpx.AsyncClient, Runs],
) -> None:
    """A multipart upload is read by its endpoint: the key is claimed at its last chunk,
    and a retry's stream ends on the first answer, not a second run."""
    client, runs = toy

    async def chunks(fill: bytes) -> AsyncIterator[bytes]:
        for _ in range(64):
            yield fill * 16_384

    headers = {**h("k10"), "content-type": "multipart/form-data; boundary=x"}
    first = await client.post("/uploads", content=chunks(b"a"), headers=headers)
    again = await client.post("/uploads", content=chunks(b"a"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert runs.streamed == [64 * 16_384]
    other = await client.post("/uploads", content=chunks(b"b"), headers=headers)
    assert other.status_code == 409
    assert runs.count == 1
