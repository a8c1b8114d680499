"""The typed identity every endpoint works with, and the roles of DOMAIN.md."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class OrganisationKind(StrEnum):
    caf = "caf"
    collectivite = "collectivite"
    national = "national"


class Role(StrEnum):
    # collectivité
    lecteur = "lecteur"
    contributeur = "contributeur"
    referent = "referent"
    # Caf (lecteur is shared with collectivités)
    agent = "agent"
    administrateur = "administrateur"
    # Cnaf
    lecteur_national = "lecteur_national"


class PrincipalKind(StrEnum):
    person = "person"
    client = "client"
    # Another app of the suite calling an internal endpoint (no grants).
    service = "service"


CAF_WRITE_ROLES = frozenset({Role.agent, Role.administrateur})
COLLECTIVITE_WRITE_ROLES = frozenset({Role.contributeur, Role.referent})


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True)

    organisation_id: uuid.UUID
    organisation_kind: OrganisationKind
    role: Role


class Principal(BaseModel):
    """Who is calling, as vouched for by the gateway's internal token."""

    model_config = ConfigDict(frozen=True)

    subject: str
    kind: PrincipalKind
    grants: tuple[Grant, ...] = ()
    # Who they are to a reader of a history (the display name the gateway saw at the
    # time: a person's token, a machine client's registration), and through which
    # client (OIDC `client_id`/`azp`: the app or partner system used). None in tokens
    # minted before these claims existed, and for services.
    name: str | None = None
    client: str | None = None

    @property
    def is_service(self) -> bool:
        return self.kind is PrincipalKind.service

    @property
    def holder_id(self) -> uuid.UUID | None:
        """The gateway-local id of the person or machine client calling (their
        `subject`), the holder of their grants; None for a service."""
        if self.kind is PrincipalKind.service:
            return None
        try:
            return uuid.UUID(self.subject)
        except ValueError:
            return None

    @property
    def person_id(self) -> uuid.UUID | None:
        """The gateway-local id of the person calling; None for a machine client or a
        service, which are nobody's notifications or preferences, nor authors where an
        author is a person."""
        return self.holder_id if self.kind is PrincipalKind.person else None

    @property
    def is_national(self) -> bool:
        return any(g.role is Role.lecteur_national for g in self.grants)

    def organisations(
        self, kind: OrganisationKind, roles: Iterable[Role] | None = None
    ) -> set[uuid.UUID]:
        wanted = None if roles is None else frozenset(roles)
        return {
            g.organisation_id
            for g in self.grants
            if g.organisation_kind is kind and (wanted is None or g.role in wanted)
        }

    def caf_ids(self, roles: Iterable[Role] | None = None) -> set[uuid.UUID]:
        """Cafs the principal holds a grant on (any role, or one of `roles`)."""
        return self.organisations(OrganisationKind.caf, roles)

    def caf_write_ids(self) -> set[uuid.UUID]:
        return self.caf_ids(CAF_WRITE_ROLES)

    def collectivite_ids(self, roles: Iterable[Role] | None = None) -> set[uuid.UUID]:
        return self.organisations(OrganisationKind.collectivite, roles)

    def collectivite_write_ids(self) -> set[uuid.UUID]:
        return self.collectivite_ids(COLLECTIVITE_WRITE_ROLES)
