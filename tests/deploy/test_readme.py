"""The README tells the truth: every setting in its table, and a tour whose curl
commands name routes the gateway really routes to an endpoint that really exists."""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

import pytest

from coop.apps import APPS
from coop.config_doc import README, config_doc, current_block, environment
from gateway.proxy.routing import RoutingTable
from kernel.settings import CommonSettings

README_TEXT = README.read_text(encoding="utf-8")


def test_configuration_table_is_up_to_date() -> None:
    assert current_block(README_TEXT) == config_doc(), (
        "README.md's configuration table is stale: run `coop config-doc --write`"
    )


def test_configuration_table_lists_every_setting() -> None:
    table = current_block(README_TEXT)
    missing = []
    for spec in APPS.values():
        for name in spec.settings_class().model_fields:
            if name in CommonSettings.model_fields and name != "port":
                variable = f"COOP_{name.upper()}"
            else:
                variable = f"{spec.env_prefix}{name.upper()}"
            if f"`{variable}`" not in table:
                missing.append(variable)
    assert missing == [], f"settings missing from README.md: {missing}"


# --- the tour ------------------------------------------------------------------------------


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def tour_calls() -> list[tuple[str, str]]:
    """(method, path template) of every curl against $API in the README's shell blocks."""
    calls: list[tuple[str, str]] = []
    for block in _shell_blocks(README_TEXT):
        command = block.replace("\\\n", " ")
        for line in command.splitlines():
            for curl in re.findall(r"curl [^|;)]*", line):
                url = re.search(r'"\$API(/[^"?]*)', curl)
                if url is None:
                    continue
                method = re.search(r"-X ([A-Z]+)", curl)
                verb = method.group(1) if method else ("POST" if " -F " in curl else "GET")
                path = re.sub(r"\$\{?[A-Z_]+\}?", "{x}", "/api/v1" + url.group(1))
                calls.append((verb, path))
    return calls


@cache
def _openapi(app_name: str) -> dict[str, Any]:
    spec = APPS[app_name]
    module, _, factory = spec.factory.partition(":")
    with environment({}):
        app = getattr(importlib.import_module(module), factory)()
    document: dict[str, Any] = app.openapi()
    return document


def _matches(template: str, concrete: str) -> bool:
    a, b = template.strip("/").split("/"), concrete.strip("/").split("/")
    return len(a) == len(b) and all(
        x == y or x.startswith("{") or y == "{x}" for x, y in zip(a, b, strict=True)
    )


def test_the_tour_covers_what_the_issue_promises() -> None:
    calls = tour_calls()
    assert ("GET", "/api/v1/conventions") in calls  # list my conventions
    assert ("POST", "/api/v1/actions/{x}/suivis") in calls  # fill a suivi
    assert ("POST", "/api/v1/documents") in calls  # upload a document
    assert "coop token --as" in README_TEXT  # get a token


@pytest.mark.parametrize(("method", "path"), tour_calls(), ids=lambda v: str(v))
def test_each_tour_call_reaches_a_real_endpoint(method: str, path: str) -> None:
    service = RoutingTable().service_for(
        path.replace("{x}", "00000000-0000-0000-0000-000000000000")
    )
    owner = service or "gateway"  # not proxied: one of the gateway's own routes
    paths = _openapi(owner)["paths"]
    found = [p for p in paths if _matches(p, path)]
    assert found, f"{method} {path}: no such path in the {owner} API"
    assert any(method.lower() in paths[p] for p in found), f"{method} {path} not allowed"


def test_tour_personas_exist() -> None:
    from gateway.devidp.personas import CLIENTS, PERSONAS

    used = set(re.findall(r"coop token --as ([a-z-]+)", README_TEXT))
    assert used
    assert used <= set(PERSONAS)
    listed = re.search(r"demo persona \((.*?)\)", README_TEXT, flags=re.DOTALL)
    assert listed is not None
    assert set(re.findall(r"`([a-z-]+)`", listed.group(1))) == set(PERSONAS)
    assert f"--client {'|'.join(CLIENTS)}" in README_TEXT
