"""The public contract, fuzzed: `/api/v1/openapi.json` alone says every answer.

Schemathesis generates requests for every operation of the merged document and sends
them through the real gateway (real HTTP to the real services, on a database of its
own dropped afterwards), as a Caf agent and as a collectivité contributeur. Every
answer must be declared by the document: no server error, no status, content type,
body or header (`ETag`, `Location`, `Retry-After`...) the operation does not declare.
Path parameters are drawn at random and from the world's real objects, so the
services' rules answer too, not only their 404s. Examples per operation are bounded
(`EXAMPLES`): the whole run stays within `BUDGET_SECONDS` for both personas, a budget
that binds the routes added after it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.console import OPENAPI_PATH
from tests.authz.world import Side
from tests.conftest import fresh_database
from tests.contract.stack import Stack, running_stack

PERSONAS = ("caf_a_agent", "x_contributeur")
EXAMPLES = 10
BUDGET_SECONDS = 180.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Headers a client acts on: an answer carrying one must declare it.
ACTED_ON = (
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
    "content-range",
    "idempotent-replayed",
    "ratelimit",
    "deprecation",
    "sunset",
)


@pytest.fixture(autouse=True)
def _empty_tables() -> None:
    """Its own database, dropped afterwards: nothing to empty."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("contract")
    with fresh_database("coop_contract") as url, running_stack(tmp, url, PERSONAS) as built:
        yield built


def known_ids(side: Side) -> list[dict[str, str]]:
    """Path parameters naming the side's real objects (one set per convention state)."""
    common = {
        "axe_id": side.axe,
        "action_id": side.action,
        "indicateur_id": side.indicateur,
        "bilan_id": side.bilan,
        "document_id": side.document,
        "equipement_id": side.equipement,
        "mise_en_demeure_id": side.mise_en_demeure,
        "organisation_id": str(side.coll),
        "periode": "2026-T3",
    }
    return [
        {**common, "convention_id": str(convention)}
        for convention in (side.convention, side.preparation, side.echue)
    ]


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    failures: list[str] = field(default_factory=list)


def _undeclared_headers(document: dict[str, Any], case: Any, response: Any) -> list[str]:
    operation = document["paths"][case.operation.path][case.method.lower()]
    declared = operation["responses"].get(str(response.status_code), {}).get("headers", {})
    names = {name.lower() for name in declared}
    return [h for h in ACTED_ON if h in response.headers and h not in names]


def fuzz(stack: Stack, persona: str, tally: Tally) -> None:
    url = stack.gateway_url + OPENAPI_PATH
    document = requests.get(url, timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    headers = stack.headers[persona]
    ids = known_ids(stack.world.sides["A"])
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        names = {p.name for p in operation.path_parameters}
        fixed = [{k: v for k, v in known.items() if k in names} for known in ids] if names else []
        strategy = st.one_of(
            operation.as_strategy(),
            *(operation.as_strategy(path_parameters=values) for values in fixed if values),
        )

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def run(case: Any) -> None:
            tally.cases += 1
            response = case.call(
                base_url=stack.gateway_url, session=session, headers=headers, timeout=15
            )
            label = f"{persona} {case.method} {case.operation.path} -> {response.status_code}"
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except BaseExceptionGroup as exc:  # every failure is listed, not the first
                tally.failures.append(f"{label}: {str(exc)[:600]}")
            missing = _undeclared_headers(document, case, response)
            if missing:
                tally.failures.append(f"{label}: undeclared response headers {missing}")

        run()


@pytest.mark.slow
def test_every_answer_is_declared(stack: Stack) -> None:
    started = time.monotonic()
    tallies = {}
    for persona in PERSONAS:
        tallies[persona] = tally = Tally()
        fuzz(stack, persona, tally)
    elapsed = time.monotonic() - started
    figures = ", ".join(
        f"{p}: {t.operations} operations, {t.cases} cases, {len(t.failures)} failures"
        for p, t in tallies.items()
    )
    print(f"contract: {figures} in {elapsed:.0f} s")
    failures = [f for t in tallies.values() for f in t.failures]
    assert not failures, f"{len(failures)} failures ({figures}):\n" + "\n".join(
        sorted(set(failures))[:80]
    )
    assert all(t.operations >= 90 for t in tallies.values()), figures
    assert elapsed < BUDGET_SECONDS, f"{elapsed:.0f} s over the budget ({figures})"
