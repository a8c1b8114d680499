"""The kernel's refusal of hostile input, on its own (every app's routes: tests/authz)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import Field, ValidationError

from kernel.input import ANNEE_CODE, NUL_CODE, Input, nul_errors


class Nested(Input):
    nom: str


class Thing(Input):
    titre: str
    mots: list[str] = Field(default_factory=list)
    parties: list[Nested] = Field(default_factory=list)
    textes: dict[str, str] = Field(default_factory=dict)
    le: dt.date | None = None
    jours: list[dt.date] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("data", "loc", "code"),
    [
        ({"titre": "a\x00"}, ("titre",), NUL_CODE),
        ({"titre": "a", "mots": ["b", "c\x00"]}, ("mots",), NUL_CODE),
        ({"titre": "a", "parties": [{"nom": "\x00"}]}, ("parties", 0, "nom"), NUL_CODE),
        ({"titre": "a", "textes": {"k\x00": "v"}}, ("textes",), NUL_CODE),
        ({"titre": "a", "le": "1999-12-31"}, ("le",), ANNEE_CODE),
        ({"titre": "a", "jours": ["2026-01-01", "2100-01-01"]}, ("jours",), ANNEE_CODE),
        ({"titre": "a", "inconnu": 1}, ("inconnu",), "extra_forbidden"),
    ],
)
def test_input_refuses_hostile_values_at_their_place(
    data: dict[str, object], loc: tuple[object, ...], code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Thing.model_validate(data)
    (error,) = caught.value.errors()
    assert (error["loc"], error["type"]) == (loc, code)


def test_input_accepts_the_ordinary() -> None:
    thing = Thing.model_validate({"titre": "Crèche", "le": "2000-01-01", "jours": ["2099-12-31"]})
    assert thing.titre == "Crèche"


def test_nul_errors_name_each_query_parameter() -> None:
    scope = {"type": "http", "path": "/x", "query_string": b"q=a%00&ok=1&b%00=2"}
    assert [(e["location"], e["field"]) for e in nul_errors(scope)] == [
        ("query", "q"),
        ("query", "b"),
    ]
    assert nul_errors({"type": "http", "path": "/x", "query_string": b"q=%2500"}) == []
