"""S3-compatible backend (MinIO in docker-compose, any S3 in production), via aiobotocore.

Uploads stream as a multipart upload to ``tmp/<uuid>`` (parts of `PART_SIZE`, the only
memory used), are completed (durable), then server-side copied to their blob key and
the temporary object deleted. Abandoned multipart uploads and temporaries are removed
by `cleanup_temp`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from services.documents.storage import READ_CHUNK, TMP_PREFIX, TempUpload, blob_key

# S3's minimum part size (except the last one).
PART_SIZE = 5 * 1024 * 1024


class _S3Upload:
    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self.key = key
        self._upload_id = upload_id
        self._buffer = bytearray()
        self._parts: list[dict[str, object]] = []
        self._completed = False

    async def _flush_part(self) -> None:
        number = len(self._parts) + 1
        resp = await self._client.upload_part(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"ETag": resp["ETag"], "PartNumber": number})
        self._buffer.clear()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= PART_SIZE:
            await self._flush_part()

    async def commit(self) -> None:
        if self._buffer or not self._parts:
            await self._flush_part()
        await self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._completed = True

    async def abort(self) -> None:
        self._buffer.clear()
        if self._completed:
            await self._client.delete_object(Bucket=self._bucket, Key=self.key)
            return
        # Already gone is fine; cleanup_temp would catch anything left.
        with contextlib.suppress(ClientError):
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self.key, UploadId=self._upload_id
            )


class S3Storage:
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self.bucket = bucket
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def open(self, create_bucket: bool = False) -> S3Storage:
        session = get_session()
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=self._endpoint_url,
                region_name=self._region,
                aws_access_key_id=self._access_key_id,
                aws_secret_access_key=self._secret_access_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
            )
        )
        if create_bucket:
            try:
                await self._client.head_bucket(Bucket=self.bucket)
            except ClientError:
                await self._client.create_bucket(Bucket=self.bucket)
        return self

    async def close(self) -> None:
        await self._stack.aclose()

    async def start_upload(self) -> _S3Upload:
        key = f"{TMP_PREFIX}{uuid.uuid4().hex}"
        resp = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
        return _S3Upload(self._client, self.bucket, key, resp["UploadId"])

    async def publish(self, upload: TempUpload, sha256: str) -> str:
        key = blob_key(sha256)
        await self._client.copy_object(
            Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": upload.key}
        )
        await self._client.delete_object(Bucket=self.bucket, Key=upload.key)
        return key

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        byte_range = f"bytes={start}-{'' if end is None else end}"
        resp = await self._client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)
        async with resp["Body"] as body:
            while True:
                chunk = await body.read(READ_CHUNK)
                if not chunk:
                    break
                yield chunk

    async def exists(self, key: str) -> bool:
        try:
            await self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return True

    def local_path(self, key: str) -> None:
        return None  # in the bucket: streamed through the service

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def _list(self, prefix: str) -> AsyncIterator[tuple[str, dt.datetime]]:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["LastModified"]

    async def list_blobs(self) -> AsyncIterator[tuple[str, dt.datetime]]:
        async for item in self._list("blobs/"):
            yield item

    async def cleanup_temp(self, older_than: dt.datetime) -> int:
        count = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=TMP_PREFIX):
            for up in page.get("Uploads", []):
                if up["Initiated"] < older_than:
                    await self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"]
                    )
                    count += 1
        stale = [key async for key, modified in self._list(TMP_PREFIX) if modified < older_than]
        for key in stale:
            await self._client.delete_object(Bucket=self.bucket, Key=key)
            count += 1
        return count
