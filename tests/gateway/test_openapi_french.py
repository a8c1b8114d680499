"""The merged public OpenAPI document speaks French to integrators: every operation has
a French summary and description (no generated "Get Axe", "List Axes"), every tag is
declared and described in French, every field of every schema is described, and no
schema or field description is in English.

The document is the one the gateway serves at /api/v1/openapi.json
(`tests.support.openapi.merged_document`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.french import ENGLISH
from tests.support.openapi import merged_document

METHODS = ("get", "post", "put", "patch", "delete")
# FastAPI's generated summaries: the endpoint's English name, title-cased.
GENERATED = re.compile(
    r"^(Get|List|Create|Update|Delete|Add|Remove|Set|Search|Register|Approve|Refuse|Cancel"
    r"|Sign|Put|Patch|Reorder|Accept)\b"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return merged_document()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_every_operation_has_a_french_summary_and_description(document: dict[str, Any]) -> None:
    operations = list(_operations(document))
    assert len(operations) > 100  # the gateway's and the three services' routes
    failures = []
    for name, operation in operations:
        summary, description = operation.get("summary", ""), operation.get("description", "")
        if not summary or GENERATED.search(summary) or ENGLISH.search(summary):
            failures.append(f"{name}: summary {summary!r}")
        if not description or ENGLISH.search(description):
            failures.append(f"{name}: description {description[:80]!r}")
    assert not failures, "\n".join(failures)


def test_every_tag_is_declared_used_and_described_in_french(document: dict[str, Any]) -> None:
    """A declared tag names public operations: the services' "interne" tag (their
    /internal/v1 routes, which the gateway never forwards) is not one of them."""
    declared = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    used = {tag for _, operation in _operations(document) for tag in operation.get("tags", [])}
    assert used <= set(declared), used - set(declared)
    assert set(declared) <= used, set(declared) - used
    for name in used:
        assert declared[name], f"tag {name!r} without a description"
        assert not ENGLISH.search(f"{name} {declared[name]}"), name


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_schema_is_reached_from_a_public_operation(document: dict[str, Any]) -> None:
    """The internal routes' payloads (convention references, bilans' references, the
    access lists) are not the integrators': no schema is left that no public path uses."""
    schemas = document["components"]["schemas"]
    reached: set[str] = set()
    pending = set(_refs(document["paths"]))
    while pending:
        name = pending.pop().rsplit("/", 1)[1]
        if name not in reached:
            reached.add(name)
            pending |= set(_refs(schemas[name]))
    assert set(schemas) == reached, sorted(set(schemas) - reached)


def test_every_field_of_every_schema_has_a_french_description(document: dict[str, Any]) -> None:
    """What a field means, its unit, format or values: an integrator reads it in the
    document, not in our code (issue 23: "descriptions of every operation and schema
    field")."""
    fields = [
        (f"{schema_name}.{name}", spec.get("description", ""))
        for schema_name, schema in document["components"]["schemas"].items()
        for name, spec in schema.get("properties", {}).items()
    ]
    assert len(fields) > 700
    missing = [name for name, text in fields if not text.strip()]
    assert not missing, f"{len(missing)} fields without a description:\n" + "\n".join(missing)


def test_no_schema_or_field_description_is_in_english(document: dict[str, Any]) -> None:
    failures = []
    for schema_name, schema in document["components"]["schemas"].items():
        texts = [("", schema.get("description", ""))]
        texts += [
            (f".{p}", s.get("description", "")) for p, s in schema.get("properties", {}).items()
        ]
        failures += [
            f"{schema_name}{where}: {text[:80]!r}" for where, text in texts if ENGLISH.search(text)
        ]
    assert not failures, "\n".join(failures)
