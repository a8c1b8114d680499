"""What the service layer needs from the running app (built in the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.convention_ref import ConventionRefReplica
from services.documents.antivirus import ClamdClient
from services.documents.schemas import Antivirus
from services.documents.settings import DocumentsSettings
from services.documents.storage import Storage


@dataclass(frozen=True)
class DocumentsContext:
    settings: DocumentsSettings
    storage: Storage
    # None when the antivirus is disabled by configuration (development only).
    scanner: ClamdClient | None
    replica: ConventionRefReplica

    @property
    def antivirus(self) -> Antivirus:
        return "actif" if self.scanner is not None else "désactivé"
