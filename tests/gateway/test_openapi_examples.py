"""The main payloads show an example in the merged OpenAPI document (issue 23: "examples
for the main payloads"), and every example the document shows is valid: against its
JSON schema, as an integrator's validator reads it, and through the model the API
validates with (a write body the API accepts, an answer it could give)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from gateway.habilitations import schemas as habilitations
from services.actions import schemas as actions
from services.actions import schemas_imports as actions_imports
from services.conventions import schemas as conventions
from services.documents import schemas as documents
from tests.support.openapi import merged_document

# The write bodies and main answers of conventions, signataires, actions, suivis,
# indicateurs, bilans, documents, habilitations and invitations.
MAIN: tuple[type[BaseModel], ...] = (
    conventions.ConventionCreate,
    conventions.ConventionOut,
    conventions.SignataireIn,
    conventions.SignataireOut,
    actions.ActionIn,
    actions.ActionDetail,
    actions.SuiviIn,
    actions.SuiviDetail,
    actions.IndicateurIn,
    actions.IndicateurOut,
    actions.ValeurIn,
    actions.BilanIn,
    actions.BilanDetail,
    actions_imports.RapportImport,
    documents.DocumentOut,
    habilitations.HabilitationIn,
    habilitations.HabilitationOut,
    habilitations.InvitationIn,
    habilitations.InvitationCreee,
)


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    document = merged_document()
    named: dict[str, Any] = document["components"]["schemas"]
    return {"components": document["components"], "named": named}


def test_the_main_payloads_show_an_example(schemas: dict[str, Any]) -> None:
    missing = [m.__name__ for m in MAIN if not schemas["named"][m.__name__].get("examples")]
    assert not missing, missing


def test_every_example_is_valid_against_its_schema(schemas: dict[str, Any]) -> None:
    checked, failures = 0, []
    for name, schema in schemas["named"].items():
        if not schema.get("examples"):
            continue
        # The schema by reference, inside the document: its $refs resolve as an
        # integrator's validator resolves them.
        root = {"components": schemas["components"], "$ref": f"#/components/schemas/{name}"}
        validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for example in schema["examples"]:
            checked += 1
            failures += [
                f"{name}: {e.json_path}: {e.message}" for e in validator.iter_errors(example)
            ]
    assert checked >= len(MAIN)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("model", MAIN, ids=lambda m: m.__name__)
def test_every_example_passes_the_model_the_api_validates_with(model: type[BaseModel]) -> None:
    for example in model.model_json_schema()["examples"]:
        model.model_validate(example)
