"""The gateway's internal tokens: reused for half their life, never across grants."""

from __future__ import annotations

import uuid

from gateway.auth.gatekeeper import InternalTokens
from kernel import dev_keys
from kernel.internal_token import InternalTokenSigner
from kernel.principal import Grant, OrganisationKind, Principal, PrincipalKind, Role

CAF = uuid.UUID("00000000-0000-0000-0000-0000000000a1")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class CountingSigner(InternalTokenSigner):
    def __init__(self) -> None:
        super().__init__("gateway", dev_keys.private_jwk("gateway"), 30)
        self.minted = 0

    def mint(self, principal: Principal, audience: str) -> str:
        self.minted += 1
        return super().mint(principal, audience)


def agent(*roles: Role) -> Principal:
    grants = tuple(
        Grant(organisation_id=CAF, organisation_kind=OrganisationKind.caf, role=r) for r in roles
    )
    return Principal(subject="p-1", kind=PrincipalKind.person, grants=grants)


def test_the_same_principal_reuses_its_token_for_half_its_life() -> None:
    signer, clock = CountingSigner(), Clock()
    tokens = InternalTokens(signer, 30, clock)
    principal = agent(Role.agent)
    first = tokens.token_for(principal, "conventions")
    assert tokens.token_for(principal, "conventions") == first
    assert signer.minted == 1
    tokens.token_for(principal, "actions")  # one token per audience
    assert signer.minted == 2
    clock.now += 15  # half its life is over
    tokens.token_for(principal, "conventions")
    assert signer.minted == 3


def test_an_equal_principal_in_another_object_finds_the_token() -> None:
    signer, clock = CountingSigner(), Clock()
    tokens = InternalTokens(signer, 30, clock)
    first = tokens.token_for(agent(Role.agent), "conventions")
    # Grants reloaded unchanged: a new object, the same principal.
    assert tokens.token_for(agent(Role.agent), "conventions") == first
    assert signer.minted == 1


def test_a_changed_grant_gets_a_new_token_at_once() -> None:
    signer, clock = CountingSigner(), Clock()
    tokens = InternalTokens(signer, 30, clock)
    tokens.token_for(agent(Role.agent), "conventions")
    tokens.token_for(agent(Role.agent, Role.administrateur), "conventions")
    assert signer.minted == 2
