"""Settings of the documents service (env prefix ``COOP_DOCUMENTS_``)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kernel.settings import CommonSettings

MIB = 1024 * 1024


class StorageBackend(StrEnum):
    filesystem = "filesystem"
    s3 = "s3"


class DocumentsSettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_DOCUMENTS_")
    app_name: ClassVar[str] = "documents"

    port: int = 8003
    conventions_url: str = "http://127.0.0.1:8001"
    conventions_sync_seconds: float = Field(default=2.0, gt=0)

    storage_backend: StorageBackend = StorageBackend.filesystem
    # Filesystem backend: tmp/ for uploads in progress, blobs/ for published content.
    storage_root: str = ".coop/documents"
    # S3 backend (MinIO, Ceph, AWS...): same layout as key prefixes in one bucket.
    s3_endpoint_url: str | None = None
    s3_bucket: str = "coop-documents"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # clamd: a Unix socket path or host:port. Its StreamMaxLength must be >= max_file_bytes.
    clamd_address: str = "/var/run/clamav/clamd.ctl"
    clamd_timeout_seconds: float = Field(default=60.0, gt=0)
    # Disabling the scan is for `make run` without clamd; refused in production.
    antivirus: bool = True
    # How often `coop worker` scans again the versions left `en_analyse` (clamd was down).
    rescan_seconds: float = Field(default=60.0, gt=0)
    # clamd error replies (it answered but could not analyse the file, e.g. above its
    # StreamMaxLength) a version gets before it is rejected as unanalysable.
    scan_max_errors: int = Field(default=3, ge=1)

    max_file_bytes: int = Field(default=50 * MIB, ge=1)
    bin_retention_days: int = Field(default=30, ge=0)
    # Multipart limits, explicitly low: a handful of small fields and one file.
    multipart_max_parts: int = Field(default=10, ge=2, le=50)
    multipart_max_field_bytes: int = Field(default=8 * 1024, ge=64)
    multipart_max_header_bytes: int = Field(default=2 * 1024, ge=256)
    # Temporary uploads and unreferenced content younger than this are left alone by cleanup.
    orphan_grace_seconds: int = Field(default=3600, ge=0)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.antivirus:
            problems.append("antivirus is disabled")
        return problems
