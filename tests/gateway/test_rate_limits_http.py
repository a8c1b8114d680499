"""Rate limits with several gateway workers, over real HTTP: each worker enforces its
share of the budget (rate and burst / N, `gateway.limits`), so a client whose requests
spread over connections meets the documented budget, and one kept-alive connection
its worker's share. Counted out of a burst, not timed: the refill (0.01 a second)
adds nothing within the test."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.servers import (
    Server,
    echo_server,
    gateway_server,
    idp_server,
    started_servers,
)

WORKERS = 2
BURST = 20
RATE = 0.01  # a second: the budget's window is BURST / RATE = 2000 s


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """(gateway with its workers, identity provider)."""
    with started_servers() as started:
        idp = started.add(idp_server(tmp_path_factory.mktemp("idp")))
        idp.wait_ready()  # the gateway fetches the provider's keys as it starts
        service = started.add(echo_server("conventions"))
        gateway = started.add(
            gateway_server(
                idp,
                {"conventions": service.url},
                workers=WORKERS,
                COOP_GATEWAY_RATE_LIMIT_BURST=str(BURST),
                COOP_GATEWAY_RATE_LIMIT_PER_SECOND=str(RATE),
            )
        )
        started.ready()
        yield gateway, idp


def _token(idp: Server, persona: str) -> dict[str, str]:
    response = httpx.post(f"{idp.url}/dev/token", params={"persona": persona})
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def _assert_refusal(response: httpx.Response) -> None:
    """A 429 problem saying when to come back and the whole budget, not a worker's."""
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert response.headers["ratelimit-policy"] == f'"par-appelant";q={BURST};w=2000'
    assert response.headers["ratelimit"] == f'"par-appelant";r=0;t={retry_after}'


async def test_a_client_on_many_connections_meets_the_documented_budget(
    gateway: tuple[Server, Server],
) -> None:
    server, idp = gateway
    headers = _token(idp, "caf-agent")
    # No connection kept: each request goes to whichever worker the kernel picks.
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, headers=headers) as client:
        answers = await asyncio.gather(
            *(client.get("/api/v1/conventions") for _ in range(6 * BURST))
        )
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) == {200, 429}
    # Every worker's share spent: the budget, give or take a token of rounding each.
    assert BURST <= statuses[200] <= BURST + WORKERS - 1
    for refused in (r for r in answers if r.status_code == 429):
        _assert_refusal(refused)


async def test_a_client_on_one_kept_alive_connection_meets_its_workers_share(
    gateway: tuple[Server, Server],
) -> None:
    server, idp = gateway
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=server.url, limits=limits, headers=_token(idp, "caf-lecteur")
    ) as client:
        statuses = [(await client.get("/api/v1/conventions")).status_code for _ in range(BURST)]
    assert statuses == [200] * (BURST // WORKERS) + [429] * (BURST - BURST // WORKERS)
