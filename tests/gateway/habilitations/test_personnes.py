"""Who reads a convention, as the services ask the gateway over HTTP
(`GET /internal/v1/conventions/{id}/personnes`, kernel.people_ref.PersonnesClient):
the gateway served by granian on loopback, its real database grants, service tokens
signed with the development keys as each app signs them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.ports import free_port
from gateway.proxy.routing import RoutingTable
from kernel import dev_keys
from kernel.errors import ServiceUnavailable
from kernel.internal_token import InternalTokenSigner
from kernel.people_ref import PersonneRef, PersonnesClient, personnes_path
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import CONVENTION_A, HabRig, habilitations_rig, revoke
from tests.gateway.support import claims, sign
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    CAF_B,
    CNAF,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    internal_token,
)
from tests.support.served import served

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite
ACTIONS_SIGNER = InternalTokenSigner("actions", dev_keys.private_jwk("actions"))


@contextlib.asynccontextmanager
async def people_client(hab: HabRig) -> AsyncIterator[PersonnesClient]:
    async with (
        served(hab.app) as url,
        httpx.AsyncClient(timeout=5.0, trust_env=False) as http,
    ):
        yield PersonnesClient(http, ACTIONS_SIGNER, url)


def by_person(items: list[PersonneRef]) -> dict[uuid.UUID, PersonneRef]:
    return {p.id: p for p in items}


async def test_the_persons_whose_current_grant_reads_the_convention(hab: HabRig) -> None:
    """Caf grants on its Caf and collectivité grants on its signataires read convention A;
    another Caf's, another collectivité's, a revoked or ended grant do not; national
    readers only when asked. The e-mail only once the provider verified it."""
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await hab.grant("contrib", COLLECTIVITE_X, COLL, Role.contributeur)
    gone = await hab.grant("gone", COLLECTIVITE_X, COLL, Role.lecteur)
    await hab.grant("ended", COLLECTIVITE_X, COLL, Role.lecteur)
    await hab.grant("other-caf", CAF_B, CAF, Role.agent)
    await hab.grant("other-coll", COLLECTIVITE_Y, COLL, Role.contributeur)
    await hab.grant("cnaf", CNAF, OrganisationKind.national, Role.lecteur_national)
    await revoke(hab, gone, "referent")
    async with hab.sessionmaker() as session:  # ended yesterday, not yet swept
        await session.execute(
            text(
                "UPDATE gateway.grants SET valid_from = now() - interval '2 days', "
                "valid_until = now() - interval '1 day' WHERE person_id = :p"
            ),
            {"p": await hab.person_id("ended")},
        )
        await session.commit()
    # The agent logs in: the provider says their e-mail is verified.
    assert (await hab.client.get("/api/v1/moi", headers=hab.headers("agent"))).status_code == 200
    ids = {n: await hab.person_id(n) for n in ("agent", "referent", "contrib", "cnaf")}

    async with people_client(hab) as client:
        everyone = by_person(await client.of_convention(CONVENTION_A))
        with_national = by_person(await client.of_convention(CONVENTION_A, national=True))
        agents = await client.of_convention(CONVENTION_A, roles=[Role.agent])
        of_x = await client.of_convention(
            CONVENTION_A, organisations=[COLLECTIVITE_X], roles=[Role.referent, Role.contributeur]
        )
        one = await client.of_convention(CONVENTION_A, personnes=[ids["contrib"]])

    assert set(everyone) == {ids["agent"], ids["referent"], ids["contrib"]}
    assert set(with_national) == set(everyone) | {ids["cnaf"]}
    agent = everyone[ids["agent"]]
    assert (agent.nom, agent.email, agent.organisation_id, agent.organisation_type) == (
        "Agent",
        "agent@test.invalid",
        CAF_A,
        CAF,
    )
    assert agent.role is Role.agent
    # Recorded by the CLI, never logged in: an address nobody verified is not given.
    assert everyone[ids["contrib"]].email is None
    assert [p.id for p in agents] == [ids["agent"]]
    assert {(p.id, p.role) for p in of_x} == {
        (ids["referent"], Role.referent),
        (ids["contrib"], Role.contributeur),
    }
    assert [p.id for p in one] == [ids["contrib"]]


async def test_an_unverified_email_is_recorded_but_never_given(hab: HabRig) -> None:
    """Addresses come from the verified e-mail claim only (`email_verified`, OIDC Core
    5.1): a token whose provider did not verify it leaves the person without one."""
    await hab.grant("doubtful", COLLECTIVITE_X, COLL, Role.lecteur)
    token = sign(
        hab.store,
        claims(sub=hab.subject("doubtful"), email="doubtful@test.invalid", email_verified=False),
    )
    moi = await hab.client.get("/api/v1/moi", headers={"authorization": f"Bearer {token}"})
    assert moi.status_code == 200, moi.text
    async with people_client(hab) as client:
        (doubtful,) = await client.of_convention(CONVENTION_A)
    assert doubtful.email is None
    # Verified at the next login (past the grant cache): given from then on.
    hab.resolver.invalidate()
    assert (await hab.client.get("/api/v1/moi", headers=hab.headers("doubtful"))).status_code == 200
    async with people_client(hab) as client:
        (doubtful,) = await client.of_convention(CONVENTION_A)
    assert doubtful.email == "doubtful@test.invalid"


async def test_now_is_the_settings_clock(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine, actions_url: str
) -> None:
    """Grants are read as of `settings.now()`: moved past a grant's end, it no longer
    counts (before the expiry sweep marks it)."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    async with habilitations_rig(
        tmp_path, database_url, db_engine, actions_url, clock=later
    ) as rig:
        await rig.grant("long", COLLECTIVITE_X, COLL, Role.lecteur)
        await rig.grant(
            "short",
            COLLECTIVITE_X,
            COLL,
            Role.lecteur,
            valid_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
        )
        async with people_client(rig) as client:
            items = await client.of_convention(CONVENTION_A)
        assert [p.id for p in items] == [await rig.person_id("long")]


async def test_only_services_may_ask(hab: HabRig) -> None:
    """A service token is required: no token, a person's internal token, or a public
    access token are refused; and the public routing table never proxies the path."""
    assert RoutingTable().match(personnes_path(CONVENTION_A)) is None
    async with served(hab.app) as url, httpx.AsyncClient(base_url=url) as http:
        path = personnes_path(CONVENTION_A)
        assert (await http.get(path)).status_code == 401
        person = internal_token(CAF_A_AGENT, "gateway")
        refused = await http.get(path, headers={"authorization": f"Bearer {person}"})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        public = await http.get(path, headers=hab.headers("agent"))
        assert public.status_code == 401
        # A service token for another service is not one for the gateway.
        wrong = ACTIONS_SIGNER.mint_service("conventions")
        wrong_aud = await http.get(path, headers={"authorization": f"Bearer {wrong}"})
        assert wrong_aud.status_code == 401


async def test_a_gateway_that_does_not_answer_is_a_fast_503() -> None:
    """Nothing listening, or a listener that never answers: ServiceUnavailable within the
    client's timeout, never a hang."""
    hung: list[asyncio.StreamWriter] = []

    async def accept_and_hang(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        hung.append(w)

    port = free_port()
    server = await asyncio.start_server(accept_and_hang, "127.0.0.1", port)
    async with server, httpx.AsyncClient(timeout=0.3, trust_env=False) as http:
        for base in (f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{port}"):
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable):
                await PersonnesClient(http, ACTIONS_SIGNER, base).of_convention(CONVENTION_A)
            assert time.monotonic() - started < 2
        for w in hung:
            w.close()
