"""The organisations and personas every test suite shares.

Two Cafs (A, B), two collectivités (X signs Caf A's conventions, Y signs Caf B's),
a national reader, and the roles of DOMAIN.md on them. Tests mint internal tokens
for these principals with the development gateway key, as the gateway would.
"""

from __future__ import annotations

import uuid

from kernel import dev_keys
from kernel.internal_token import InternalTokenSigner
from kernel.principal import Grant, OrganisationKind, Principal, PrincipalKind, Role

_NS = uuid.UUID("6f1c2a52-6a44-4b8e-9b51-0d3c6f3a7e10")


def stable_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NS, name)


CAF_A = stable_id("caf-a")
CAF_B = stable_id("caf-b")
COLLECTIVITE_X = stable_id("collectivite-x")
COLLECTIVITE_Y = stable_id("collectivite-y")
CNAF = stable_id("cnaf")


# The app persons come through, as the gateway names it in their internal tokens.
MOBILE_APP = "ctg-dans-ma-poche"


def display_name(name: str) -> str:
    """The display name a persona's token carries ("caf-a-agent" -> "Caf A Agent")."""
    return name.replace("-", " ").title()


def person(name: str, *grants: tuple[uuid.UUID, OrganisationKind, Role]) -> Principal:
    return Principal(
        subject=str(stable_id(f"person:{name}")),
        kind=PrincipalKind.person,
        name=display_name(name),
        client=MOBILE_APP,
        grants=tuple(
            Grant(organisation_id=org, organisation_kind=kind, role=role)
            for org, kind, role in grants
        ),
    )


CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite

CAF_A_AGENT = person("caf-a-agent", (CAF_A, CAF, Role.agent))
CAF_A_LECTEUR = person("caf-a-lecteur", (CAF_A, CAF, Role.lecteur))
CAF_A_ADMIN = person("caf-a-admin", (CAF_A, CAF, Role.administrateur))
CAF_B_AGENT = person("caf-b-agent", (CAF_B, CAF, Role.agent))
X_REFERENT = person("x-referent", (COLLECTIVITE_X, COLL, Role.referent))
X_CONTRIBUTEUR = person("x-contributeur", (COLLECTIVITE_X, COLL, Role.contributeur))
X_LECTEUR = person("x-lecteur", (COLLECTIVITE_X, COLL, Role.lecteur))
Y_CONTRIBUTEUR = person("y-contributeur", (COLLECTIVITE_Y, COLL, Role.contributeur))
NATIONAL = person("national", (CNAF, OrganisationKind.national, Role.lecteur_national))
NOBODY = person("nobody")
X_PARTNER_CLIENT = Principal(
    subject="partenaire-x",
    kind=PrincipalKind.client,
    name="SI de la collectivité X",
    client="partenaire-x",
    grants=(Grant(organisation_id=COLLECTIVITE_X, organisation_kind=COLL, role=Role.contributeur),),
)

_gateway_signer = InternalTokenSigner("gateway", dev_keys.private_jwk("gateway"))


def internal_token(principal: Principal, audience: str) -> str:
    """What the gateway sends to `audience` for `principal`."""
    return _gateway_signer.mint(principal, audience)


def auth_headers(principal: Principal, audience: str) -> dict[str, str]:
    return {"authorization": f"Bearer {internal_token(principal, audience)}"}
