"""Hostile or odd input on every route of the public API, through the gateway: each
write refuses unknown fields the same way, a NUL character anywhere (body, path, query)
is a 422 problem naming the field, never a 500, and so is a year no one can mean.

The routes come from the gateway's merged OpenAPI document, so a route added later is
covered without touching this file.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from kernel.errors import BODY_UNREADABLE
from kernel.input import ANNEE_CODE, NUL_CODE
from tests.authz.world import PDF, World
from tests.support.problems import assert_problem

WRITES = ("post", "put", "patch")
# Any id: the body is refused before the resource is looked up.
SOME_ID = str(uuid.UUID(int=0x1234))


def _fill(template: str) -> str:
    """A path template with plausible values (ids, a quarter, a version number)."""
    out = template
    for name in ("periode",):
        out = out.replace("{" + name + "}", "2026-T3")
    for name in ("numero", "n"):
        out = out.replace("{" + name + "}", "1")
    while "{" in out:
        start = out.index("{")
        out = out[:start] + SOME_ID + out[out.index("}", start) + 1 :]
    return out


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`, and take the object branch of an optional body (`anyOf`)."""
    while True:
        if "$ref" in schema:
            node: Any = spec
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        elif "anyOf" in schema:
            objects = [s for s in schema["anyOf"] if s.get("type") != "null"]
            schema = objects[0]
        else:
            return schema


def _is_string(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    branches = schema.get("anyOf", [schema])
    return any(_resolve(spec, b).get("type") == "string" for b in branches)


def _json_writes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, body schema) of every write taking a JSON body."""
    out = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if method in WRITES and "application/json" in content:
                out.append((method, path, _resolve(spec, content["application/json"]["schema"])))
    return out


def _kind(schema: dict[str, Any]) -> dict[str, str]:
    """A body of several kinds told apart by a field (a discriminated union): one kind
    named, for the rest of the body to be read as that kind's."""
    discriminator = schema.get("discriminator")
    if not discriminator:
        return {}
    return {discriminator["propertyName"]: next(iter(discriminator["mapping"]))}


async def _spec(world: World) -> dict[str, Any]:
    resp = await world.gateway.get("/api/v1/openapi.json")
    assert resp.status_code == 200, resp.text
    spec: dict[str, Any] = resp.json()
    return spec


def _entries(resp: httpx.Response) -> list[dict[str, Any]]:
    problem = assert_problem(resp, 422)
    entries: list[dict[str, Any]] = problem.get("errors", [])
    return entries


async def test_every_write_refuses_unknown_fields_the_same_way(world: World) -> None:
    spec = await _spec(world)
    writes = _json_writes(spec)
    assert len(writes) > 40  # the listing sees the gateway's and the services' writes
    failures = []
    for method, path, schema in writes:
        resp = await world.gateway.request(
            method,
            _fill(path),
            json={**_kind(schema), "champ_inconnu": "x"},
            headers=world.headers("caf_a_agent"),
        )
        entries = _entries(resp) if resp.status_code == 422 else []
        unknown = [e for e in entries if e["field"] == "champ_inconnu"]
        if not unknown or unknown[0]["code"] != "extra_forbidden":
            failures.append(f"{method.upper()} {path}: {resp.status_code} {resp.text[:200]}")
            continue
        assert unknown[0]["location"] == "body"
        assert unknown[0]["pointer"] == "/champ_inconnu"
        assert unknown[0]["message"] == "Champ inconnu : il n'est pas accepté."
    assert not failures, "\n".join(failures)


async def test_a_nul_character_in_any_string_field_is_a_422(world: World) -> None:
    spec = await _spec(world)
    failures = []
    refused_for_nul = 0
    for method, path, schema in _json_writes(spec):
        for name, prop in schema.get("properties", {}).items():
            if not _is_string(spec, prop):
                continue
            resp = await world.gateway.request(
                method,
                _fill(path),
                json={name: "avant\u0000après"},
                headers=world.headers("caf_a_agent"),
            )
            # Refused by the field's own format (uuid, date, pattern) or for the NUL:
            # always a 422 that names the field, never a 500.
            entries = _entries(resp) if resp.status_code == 422 else []
            on_field = [e for e in entries if e["field"] == name]
            if not on_field:
                failures.append(f"{method.upper()} {path} {name}: {resp.status_code}")
                continue
            if on_field[0]["code"] == NUL_CODE:
                refused_for_nul += 1
                assert on_field[0]["message"] == "Le caractère NUL (U+0000) n'est pas accepté."
    assert not failures, "\n".join(failures)
    assert refused_for_nul > 30  # free-text fields of every app


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/conventions?q=%00",
        "/api/v1/organisations?q=a%00b",
        "/api/v1/documents?q=%00",
    ],
)
async def test_a_nul_character_in_a_query_parameter_is_a_422(world: World, path: str) -> None:
    resp = await world.gateway.get(path, headers=world.headers("caf_a_agent"))
    (entry,) = _entries(resp)
    assert (entry["location"], entry["field"], entry["code"]) == ("query", "q", NUL_CODE)


async def test_every_string_query_parameter_refuses_a_nul(world: World) -> None:
    spec = await _spec(world)
    failures = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        for param in get.get("parameters", []):
            if param["in"] != "query" or not _is_string(spec, param["schema"]):
                continue
            resp = await world.gateway.get(
                _fill(path),
                params={param["name"]: "x\u0000"},
                headers=world.headers("caf_a_agent"),
            )
            entries = _entries(resp) if resp.status_code == 422 else []
            if not any(e["field"] == param["name"] and e["code"] == NUL_CODE for e in entries):
                failures.append(f"GET {path} ?{param['name']}: {resp.status_code}")
    assert not failures, "\n".join(failures)


async def test_an_integer_past_postgresql_s_is_a_422_never_a_500(world: World) -> None:
    """A version number past PostgreSQL's `integer` failed the query itself (a 500, found
    by the contract test); every integer of a path or a query is bounded."""
    spec = await _spec(world)
    failures, tried = [], 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "get":
                continue
            for param in operation.get("parameters", []):
                if param["in"] not in ("path", "query") or param["schema"].get("type") != "integer":
                    continue
                tried += 1
                url = _fill(path)
                params = {}
                if param["in"] == "path":
                    url = _fill(path.replace("{" + param["name"] + "}", str(2**31)))
                else:
                    params = {param["name"]: str(2**31)}
                resp = await world.gateway.get(
                    url, params=params, headers=world.headers("caf_a_agent")
                )
                if resp.status_code != 422:
                    failures.append(f"GET {path} {param['name']}: {resp.status_code}")
    assert tried >= 3
    assert not failures, "\n".join(failures)


async def test_a_nul_character_in_the_path_is_a_422(world: World) -> None:
    side = world.sides["A"]
    for path in (
        f"/api/v1/actions/{side.action}/suivis/2026-T3%00",
        "/api/v1/conventions/%00",
        "/api/v1/habilitations/%00",
    ):
        resp = await world.gateway.get(path, headers=world.headers("caf_a_agent"))
        (entry,) = _entries(resp)
        assert (entry["location"], entry["code"]) == ("path", NUL_CODE), path


@pytest.mark.parametrize("periode", ["0000-T1", "9999-T4", "1999-T4", "2100-T1"])
async def test_a_quarter_out_of_the_accepted_years_is_a_422(world: World, periode: str) -> None:
    side = world.sides["A"]
    who = world.headers("caf_a_agent")
    calls = [
        ("POST", f"/api/v1/actions/{side.action}/suivis", {"periode": periode}),
        ("GET", f"/api/v1/actions/{side.action}/suivis/{periode}", None),
        ("GET", f"/api/v1/conventions/{side.convention}/campagnes/{periode}", None),
        ("PUT", f"/api/v1/conventions/{side.convention}/campagnes/{periode}", {}),
        ("GET", f"/api/v1/campagnes/{periode}", None),
        ("GET", f"/api/v1/moi/actions-a-renseigner?periode={periode}", None),
        (
            "PUT",
            f"/api/v1/actions/{side.action}/indicateurs/{side.indicateur}/valeurs/{periode}",
            {"valeur": 1},
        ),
    ]
    for method, path, body in calls:
        resp = await world.gateway.request(method, path, json=body, headers=who)
        entries = _entries(resp)
        assert any(e["code"] == ANNEE_CODE for e in entries), (method, path, entries)


@pytest.mark.parametrize("annee", ["0000", "9999"])
async def test_a_year_out_of_the_accepted_years_is_a_422(world: World, annee: str) -> None:
    side = world.sides["A"]
    base = f"/api/v1/actions/{side.action}/indicateurs"
    resp = await world.gateway.put(
        f"{base}/{side.indicateur}/valeurs/{annee}",
        json={"valeur": 1},
        headers=world.headers("caf_a_agent"),
    )
    assert any(e["code"] == ANNEE_CODE for e in _entries(resp))
    resp = await world.gateway.post(
        base,
        json={
            "libelle": "Places",
            "nature": "réalisation",
            "unite": "places",
            "cibles": {annee: 10},
        },
        headers=world.headers("caf_a_agent"),
    )
    assert any(e["code"] == ANNEE_CODE for e in _entries(resp))


async def test_a_convention_dated_out_of_the_accepted_years_is_a_422(world: World) -> None:
    """Its quarters would run past 9999-T4: every campaign view of it was a 500."""
    side = world.sides["A"]
    resp = await world.gateway.post(
        "/api/v1/conventions",
        json={
            "caf_id": str(side.caf),
            "echelon": "commune",
            "titre": "CTG de l'an 9999",
            "date_debut": "9995-01-01",
            "date_fin": "9999-12-31",
        },
        headers=world.headers("caf_a_agent"),
    )
    fields = {e["field"]: e["code"] for e in _entries(resp)}
    assert fields == {"date_debut": ANNEE_CODE, "date_fin": ANNEE_CODE}


async def test_a_nul_character_in_a_form_field_is_a_422(world: World) -> None:
    side = world.sides["A"]
    resp = await world.gateway.post(
        "/api/v1/documents",
        data={"convention_id": str(side.convention), "type": "Autre", "titre": "CR\u0000"},
        files={"fichier": ("cr.pdf", PDF, "application/pdf")},
        headers=world.headers("x_contributeur"),
    )
    (entry,) = _entries(resp)
    assert (entry["location"], entry["field"], entry["code"]) == ("form", "titre", NUL_CODE)


def _wrong_value(spec: dict[str, Any], schema: dict[str, Any]) -> object:
    """A value of the wrong kind for a property's schema (its first non-null branch)."""
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    target = _resolve(spec, branches[0]) if branches else {}
    kind, fmt = target.get("type"), target.get("format")
    if "enum" in target:
        return "valeur-inconnue"
    if kind == "string":
        return {"uuid": "pas-un-uuid", "date": "31/12/2026", "date-time": "hier"}.get(fmt, 12345)
    if kind in ("integer", "number"):
        return "beaucoup"
    if kind == "boolean":
        return "peut-être"
    if kind == "array":
        return "pas une liste"
    return 42


async def test_every_write_says_its_validation_errors_in_french(world: World) -> None:
    """Each write, sent nothing (missing fields) then a wrong value in every field: no
    message of pydantic's English ("Field required", "Input should be a valid UUID")
    reaches the client; each is the mapping's French."""
    spec = await _spec(world)
    english = re.compile(r"\b(should|Input|Field|required|valid|error|must|least|most)\b")
    leaks, codes = [], set()
    for method, path, schema in _json_writes(spec):
        wrong = {n: _wrong_value(spec, p) for n, p in schema.get("properties", {}).items()}
        for body in ({}, wrong):
            resp = await world.gateway.request(
                method, _fill(path), json=body, headers=world.headers("caf_a_agent")
            )
            if resp.status_code != 422:
                continue
            for entry in _entries(resp):
                codes.add(entry["code"])
                if english.search(entry["message"]):
                    leaks.append(f"{method.upper()} {path} {entry['field']}: {entry['message']}")
    assert not leaks, "\n".join(leaks)
    # The kinds of error the API's schemas raise were all met.
    assert {"missing", "uuid_parsing", "string_type", "int_parsing", "enum"} <= codes, codes


@pytest.mark.parametrize(
    ("body", "field", "code", "message"),
    [
        ({}, "caf_id", "missing", "Champ obligatoire manquant."),
        (
            {"caf_id": "x"},
            "caf_id",
            "uuid_parsing",
            "Identifiant invalide : un UUID est attendu.",
        ),
        (
            {"date_debut": "31/12/2026"},
            "date_debut",
            "date_from_datetime_parsing",
            "Date invalide (format attendu AAAA-MM-JJ).",
        ),
    ],
)
async def test_a_bad_field_is_said_in_french_through_the_gateway(
    world: World, body: dict[str, object], field: str, code: str, message: str
) -> None:
    resp = await world.gateway.post(
        "/api/v1/conventions", json=body, headers=world.headers("caf_a_agent")
    )
    entries = {e["field"]: e for e in _entries(resp)}
    assert (entries[field]["code"], entries[field]["message"]) == (code, message)


async def test_an_echelon_out_of_its_list_names_the_choices_in_french(world: World) -> None:
    resp = await world.gateway.post(
        "/api/v1/conventions", json={"echelon": "galaxie"}, headers=world.headers("caf_a_agent")
    )
    (entry,) = [e for e in _entries(resp) if e["field"] == "echelon"]
    assert entry["code"] == "enum"
    assert entry["message"].startswith("Valeur non reconnue : 'commune'")
    assert "' ou '" in entry["message"]
    assert " or " not in entry["message"]


async def test_a_rule_of_a_validator_reads_without_pydantics_prefix(world: World) -> None:
    """`ValueError("La date d'échéance précède la date de début.")` was sent as
    "Value error, La date d'échéance...": the client reads the rule alone."""
    side = world.sides["A"]
    resp = await world.gateway.patch(
        f"/api/v1/actions/{side.action}",
        json={"date_debut": "2026-06-01", "date_echeance": "2026-01-01"},
        headers=world.headers("caf_a_agent"),
    )
    messages = [e["message"] for e in _entries(resp)]
    assert "La date d'échéance précède la date de début." in messages, messages


async def test_a_body_that_is_not_json_is_said_in_french(world: World) -> None:
    resp = await world.gateway.post(
        "/api/v1/conventions",
        content=b'{"titre": ',
        headers={**world.headers("caf_a_agent"), "content-type": "application/json"},
    )
    (entry,) = _entries(resp)
    assert (entry["location"], entry["code"]) == ("body", "json_invalid")
    assert entry["message"] == "Le corps de la requête n'est pas un JSON valide."


async def test_a_body_that_cannot_be_decoded_is_a_french_400(world: World) -> None:
    """FastAPI's "There was an error parsing the body" (here: not UTF-8)."""
    resp = await world.gateway.post(
        "/api/v1/conventions",
        content=b'{"titre": "\xff\xfe"}',
        headers={**world.headers("caf_a_agent"), "content-type": "application/json"},
    )
    problem = assert_problem(resp, 400)
    assert problem["detail"] == BODY_UNREADABLE


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=abc", "Un nombre entier est attendu."),
        ("limit=5000", "La valeur doit être inférieure ou égale à 200."),
    ],
)
async def test_a_bad_query_parameter_is_said_in_french(
    world: World, query: str, message: str
) -> None:
    resp = await world.gateway.get(
        f"/api/v1/conventions?{query}", headers=world.headers("caf_a_agent")
    )
    (entry,) = _entries(resp)
    assert (entry["location"], entry["field"], entry["message"]) == ("query", "limit", message)
