"""The fields that mean the same in many schemas of the API, described once.

Every field of a public schema carries a French description (`Field(description=...)`,
checked over the merged document by `tests/gateway/test_openapi_french.py`). A field
that recurs with the same meaning takes its type from here (or from its app's
`schemas.py` when only that app has it) rather than repeating the sentence.
A field that may be null is described on the field itself: what null means differs.
"""

from __future__ import annotations

import datetime as dt
import typing
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[uuid.UUID, Field(description="Identifiant (UUID), attribué par Coopération.")]
ConventionId = Annotated[uuid.UUID, Field(description="Identifiant de la convention (UUID).")]
CafId = Annotated[
    uuid.UUID, Field(description="Identifiant de la Caf de la convention (une organisation).")
]
CafNom = Annotated[str, Field(description="Nom de la Caf de la convention.")]
Version = Annotated[
    int,
    Field(
        description="Version de l'objet, augmentée à chaque modification ; l'en-tête ETag "
        "de ses réponses la porte, à renvoyer dans If-Match pour le modifier."
    ),
]
CreeLe = Annotated[dt.datetime, Field(description="Date et heure de création (ISO 8601).")]
ModifieLe = Annotated[
    dt.datetime, Field(description="Date et heure de la dernière modification (ISO 8601).")
]
Auteur = Annotated[
    str,
    Field(description="Identifiant de l'auteur (personne ou client machine) dans Coopération."),
]
AuteurNom = Annotated[
    str | None,
    Field(
        description="Nom de cette personne ou de ce client machine au moment où il a agi "
        "(null : nom inconnu, pour ce qui a été écrit avant que Coopération ne le garde)."
    ),
]
Le = Annotated[dt.datetime, Field(description="Date et heure de l'événement (ISO 8601).")]
Details = Annotated[
    dict[str, object],
    Field(description="Précisions propres à l'événement (par exemple les dates d'un avenant)."),
]


def examples(*payloads: dict[str, Any]) -> ConfigDict:
    """A schema's `examples` in the OpenAPI document, as its model's `model_config`
    (each one checked against its schema: tests/gateway/test_openapi_examples.py)."""
    return ConfigDict(json_schema_extra={"examples": list(payloads)})


def examples_of(model: type[BaseModel]) -> list[Any]:
    """The examples `examples(...)` gave a model (none: an empty list)."""
    extra = model.model_config.get("json_schema_extra")
    found = extra.get("examples") if isinstance(extra, dict) else None
    return list(found) if isinstance(found, list) else []


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every model an annotation holds, itself and its fields' (nested, in lists,
    unions, `Annotated`), each once."""
    seen: set[type[BaseModel]] = set()
    pending = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            if current not in seen:
                seen.add(current)
                yield current
                pending.extend(field.annotation for field in current.model_fields.values())
        else:
            pending.extend(typing.get_args(current))
