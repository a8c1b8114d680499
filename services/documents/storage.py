"""Where content lives: a small interface with a filesystem and an S3 backend.

Layout (directories for the filesystem, key prefixes for S3):

- ``tmp/<uuid>``: an upload in progress (never read by a download);
- ``blobs/<sha[0:2]>/<sha[2:4]>/<sha256>``: published content, one per distinct hash.

An upload is written to a temporary name while it streams in, made durable
(`TempUpload.commit`: fsync, or the S3 multipart upload completed), then published
under its hash in one atomic step (rename, or server-side copy). A crash leaves at
worst a temporary or an unreferenced blob, which `cleanup` removes.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

READ_CHUNK = 64 * 1024
TMP_PREFIX = "tmp/"
BLOB_PREFIX = "blobs/"


def blob_key(sha256: str) -> str:
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256}"


def sha_of_blob_key(key: str) -> str | None:
    if not key.startswith(BLOB_PREFIX):
        return None
    name = key.rsplit("/", 1)[-1]
    return name if len(name) == 64 else None


class TempUpload(Protocol):
    key: str

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None:
        """Make what was written durable (still under the temporary name)."""

    async def abort(self) -> None:
        """Remove the temporary content, whatever state it is in."""


class Storage(Protocol):
    name: str

    async def start_upload(self) -> TempUpload: ...

    async def publish(self, upload: TempUpload, sha256: str) -> str:
        """Atomically move a committed upload to its blob key (returns the key)."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` inclusive (``None``: to the end), streamed."""

    async def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None:
        """Where the content lies on this machine's disk, if it does (the server can
        then send it itself)."""
        ...

    async def delete(self, key: str) -> None: ...

    def list_blobs(self) -> AsyncIterator[tuple[str, dt.datetime]]:
        """(key, last modification) of every published blob."""

    async def cleanup_temp(self, older_than: dt.datetime) -> int:
        """Remove temporaries left before `older_than` (crash, disconnect); how many."""

    async def close(self) -> None: ...


# --- filesystem -----------------------------------------------------------------------


class _FsUpload:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self._file: anyio.AsyncFile[bytes] | None = None

    async def open(self) -> None:
        self._file = await anyio.open_file(self.path, "xb")

    async def write(self, data: bytes) -> None:
        assert self._file is not None
        await self._file.write(data)

    async def commit(self) -> None:
        assert self._file is not None
        f = self._file
        await f.flush()
        await anyio.to_thread.run_sync(os.fsync, f.wrapped.fileno())
        await f.aclose()
        self._file = None

    async def abort(self) -> None:
        if self._file is not None:
            await self._file.aclose()
            self._file = None
        await anyio.to_thread.run_sync(lambda: self.path.unlink(missing_ok=True))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemStorage:
    name = "filesystem"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"clé hors du stockage : {key!r}")
        return path

    async def start_upload(self) -> _FsUpload:
        tmp = self.root / "tmp"
        await anyio.to_thread.run_sync(lambda: tmp.mkdir(parents=True, exist_ok=True))
        key = f"{TMP_PREFIX}{uuid.uuid4().hex}.part"
        upload = _FsUpload(self._path(key), key)
        await upload.open()
        return upload

    async def publish(self, upload: TempUpload, sha256: str) -> str:
        assert isinstance(upload, _FsUpload)
        key = blob_key(sha256)
        target = self._path(key)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(upload.path, target)  # atomic; identical content may replace itself
            _fsync_dir(target.parent)

        await anyio.to_thread.run_sync(move)
        return key

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        remaining = None if end is None else end - start + 1
        async with await anyio.open_file(self._path(key), "rb") as f:
            await f.seek(start)
            while remaining is None or remaining > 0:
                size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await f.read(size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self._path(key).is_file)

    def local_path(self, key: str) -> Path:
        return self._path(key)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self._path(key).unlink(missing_ok=True))

    async def list_blobs(self) -> AsyncIterator[tuple[str, dt.datetime]]:
        def scan() -> list[tuple[str, dt.datetime]]:
            base = self.root / "blobs"
            if not base.is_dir():
                return []
            return [
                (
                    p.relative_to(self.root).as_posix(),
                    dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC),
                )
                for p in base.rglob("*")
                if p.is_file()
            ]

        for item in await anyio.to_thread.run_sync(scan):
            yield item

    async def cleanup_temp(self, older_than: dt.datetime) -> int:
        def sweep() -> int:
            base = self.root / "tmp"
            if not base.is_dir():
                return 0
            limit = older_than.timestamp()
            count = 0
            for p in base.iterdir():
                if p.is_file() and p.stat().st_mtime < limit:
                    p.unlink(missing_ok=True)
                    count += 1
            return count

        return await anyio.to_thread.run_sync(sweep)

    async def close(self) -> None:
        return None
