"""The gateway, the dev IdP and services as real processes on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from coop.ports import free_port
from tests.gateway.echo_service import CHUNK
from tests.gateway.servers import Server, idp_server
from tests.gateway.support import NO_DATABASE

MIB = 1024 * 1024
BIG = 200 * MIB


class Suite:
    def __init__(self, gateway: Server, idp: Server) -> None:
        self.gateway = gateway
        self.idp = idp

    def token(self, persona: str = "caf-agent") -> dict[str, str]:
        response = httpx.post(f"{self.idp.url}/dev/token", params={"persona": persona})
        return {"authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    key_dir: Path = tmp_path_factory.mktemp("idp")
    started: list[Server] = []
    try:
        idp = idp_server(key_dir)
        started.append(idp)
        idp.wait_ready()  # the gateway fetches the provider's keys as it starts
        services = {}
        for name in ("conventions", "documents"):
            server = Server(
                "tests.gateway.echo_service:echo_service_from_env",
                {"COOP_ECHO_NAME": name, "COOP_ECHO_DATABASE_URL": NO_DATABASE},
            )
            started.append(server)
            services[name] = server.url
        services["actions"] = f"http://127.0.0.1:{free_port()}"  # nobody listens: down
        gateway = Server(
            "tests.gateway.servers:gateway_from_env",
            {
                "COOP_GATEWAY_DATABASE_URL": NO_DATABASE,
                "COOP_GATEWAY_OIDC_ISSUER": idp.url,
                "COOP_GATEWAY_SERVICE_URLS": json.dumps(services),
                "COOP_GATEWAY_PROXY_READ_TIMEOUT_SECONDS": "1",
            },
        )
        started.append(gateway)
        for server in started:
            server.wait_ready()
        yield Suite(gateway, idp)
    finally:
        for server in started:
            server.stop()


async def test_a_persona_token_from_the_idp_reaches_the_service(suite: Suite) -> None:
    async with httpx.AsyncClient(base_url=suite.gateway.url) as client:
        response = await client.get("/api/v1/conventions", headers=suite.token("caf-agent"))
    assert response.status_code == 200
    assert response.json()["service"] == "conventions"
    assert response.json()["kind"] == "person"


async def test_service_down_is_503_to_retry_later(suite: Suite) -> None:
    async with httpx.AsyncClient(base_url=suite.gateway.url) as client:
        response = await client.get("/api/v1/actions", headers=suite.token())
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert response.json()["detail"] == "Le service actions est injoignable."
    assert response.headers["retry-after"] == "5"


async def test_slow_service_is_504_not_a_hang(suite: Suite) -> None:
    async with httpx.AsyncClient(base_url=suite.gateway.url, timeout=30) as client:
        response = await client.get(
            f"/api/v1/conventions/{uuid.uuid4()}/lent",
            params={"seconds": 3},
            headers=suite.token(),
        )
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_of_unknown_length_reaches_the_service_whole(suite: Suite) -> None:
    """No Content-Length from the client: the gateway sends the body on chunked."""
    digest = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        for i in range(40):
            chunk = bytes([i]) * 10_000
            digest.update(chunk)
            yield chunk

    async with httpx.AsyncClient(base_url=suite.gateway.url) as client:
        response = await client.post(
            "/api/v1/documents", headers=suite.token("collectivite-contributeur"), content=body()
        )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json() == {"bytes": 400_000, "sha256": digest.hexdigest()}


class PeakRss:
    """Samples a process's resident memory while a transfer runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


async def _upload_body(digest: hashlib._Hash) -> AsyncIterator[bytes]:
    sent = 0
    while sent < BIG:
        chunk = CHUNK[: min(len(CHUNK), BIG - sent)]
        digest.update(chunk)
        sent += len(chunk)
        yield chunk


async def test_200_mib_upload_and_download_stream_with_flat_memory(suite: Suite) -> None:
    headers = suite.token("collectivite-contributeur")
    async with httpx.AsyncClient(base_url=suite.gateway.url, timeout=120) as client:
        # Warm up (first request loads keys, opens pools) before measuring.
        await client.get("/api/v1/conventions", headers=headers)
        digest = hashlib.sha256()
        async with PeakRss(suite.gateway.process.pid) as upload_memory:
            response = await client.post(
                "/api/v1/documents",
                headers={**headers, "content-length": str(BIG)},
                content=_upload_body(digest),
            )
        assert response.status_code == 200, response.text
        assert response.json() == {"bytes": BIG, "sha256": digest.hexdigest()}
        received = 0
        async with (
            PeakRss(suite.gateway.process.pid) as download_memory,
            client.stream("GET", f"/api/v1/documents/{BIG}/contenu", headers=headers) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-length"] == str(BIG)
            async for chunk in stream.aiter_raw():
                received += len(chunk)
        assert received == BIG
    # The gateway never holds more than a few chunks of the 200 MiB.
    assert upload_memory.growth < 40 * MIB, upload_memory.growth
    assert download_memory.growth < 40 * MIB, download_memory.growth
