"""The S3 backend against a real S3-protocol server (moto's server mode, over HTTP)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from moto.server import ThreadedMotoServer

from services.documents.storage import blob_key
from services.documents.storage_s3 import PART_SIZE, S3Storage
from tests.documents.conftest import AppFactory, Convs
from tests.documents.helpers import h, new_version, ok, upload
from tests.documents.samples import pdf
from tests.support.personas import X_CONTRIBUTEUR, X_LECTEUR

CREDENTIALS = {"access_key_id": "test-access", "secret_access_key": "test-secret"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3(s3_endpoint: str, request: pytest.FixtureRequest) -> AsyncIterator[S3Storage]:
    bucket = f"coop-{abs(hash(request.node.name)) % 10**8}"
    storage = await S3Storage(
        bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1", **CREDENTIALS
    ).open(create_bucket=True)
    try:
        yield storage
    finally:
        await storage.close()


async def read_all(storage: S3Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start, end)])


async def test_multipart_upload_publish_and_ranges(s3: S3Storage) -> None:
    # Larger than one part: exercises the multipart upload.
    data = os.urandom(PART_SIZE + 123_456)
    sha = hashlib.sha256(data).hexdigest()
    upload_ = await s3.start_upload()
    for start in range(0, len(data), 100_000):
        await upload_.write(data[start : start + 100_000])
    await upload_.commit()
    key = await s3.publish(upload_, sha)
    assert key == blob_key(sha)
    assert await read_all(s3, key) == data
    assert await read_all(s3, key, 10, 19) == data[10:20]
    assert await read_all(s3, key, len(data) - 5) == data[-5:]
    # Nothing temporary remains once published.
    assert await s3.cleanup_temp(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 0
    assert [k async for k, _ in s3.list_blobs()] == [key]
    await s3.delete(key)
    assert not await s3.exists(key)


async def test_aborted_and_abandoned_uploads_leave_nothing(s3: S3Storage) -> None:
    aborted = await s3.start_upload()
    await aborted.write(b"%PDF- partial")
    await aborted.abort()
    # An upload a crash abandoned (never completed nor aborted) is found by cleanup.
    abandoned = await s3.start_upload()
    await abandoned.write(b"x" * 10)
    # (moto reports a fixed initiation date, so only the "old enough" side is checked here.)
    assert await s3.cleanup_temp(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == 1
    assert await s3.cleanup_temp(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == 0
    assert [k async for k, _ in s3.list_blobs()] == []


async def test_documents_on_s3_end_to_end(
    convs: Convs, documents_app: AppFactory, s3_endpoint: str, s3: S3Storage
) -> None:
    settings = {
        "storage_backend": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": s3.bucket,
        "s3_access_key_id": CREDENTIALS["access_key_id"],
        "s3_secret_access_key": CREDENTIALS["secret_access_key"],
    }
    v1, v2 = pdf("s3 v1", padding=20_000), pdf("s3 v2")
    async with documents_app(**settings) as client:
        doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "s3.pdf", v1), 201)
        ok(await new_version(client, X_CONTRIBUTEUR, doc["id"], "s3.pdf", v2), 201)
        url = f"/api/v1/documents/{doc['id']}"
        assert (await client.get(f"{url}/contenu", headers=h(X_LECTEUR))).content == v2
        first = await client.get(f"{url}/versions/1/contenu", headers=h(X_LECTEUR))
        assert first.content == v1
        part = await client.get(
            f"{url}/versions/1/contenu", headers=h(X_LECTEUR, range="bytes=5-9")
        )
        assert part.status_code == 206
        assert part.content == v1[5:10]
    keys = sorted([k async for k, _ in s3.list_blobs()])
    assert keys == sorted([blob_key(hashlib.sha256(v).hexdigest()) for v in (v1, v2)])


def test_s3_requests_are_real_http(s3_endpoint: str) -> None:
    """The server is a real HTTP endpoint speaking S3 (not an in-process mock)."""
    resp = httpx.get(s3_endpoint + "/")
    assert resp.status_code == 200
    assert b"ListAllMyBucketsResult" in resp.content
