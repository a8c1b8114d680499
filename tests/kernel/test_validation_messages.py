"""Pydantic's validation messages said in French through the one mapping
(kernel/validation_messages.py); the same messages through the real stack:
tests/authz/test_hostile_input.py."""

from __future__ import annotations

import datetime as dt
import enum
import re
import typing
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError, core_schema

from kernel.errors import validation_entries
from kernel.input import NUL_MESSAGE, Input
from kernel.validation_messages import FRENCH_TEMPLATES, french_message

# Words of pydantic's English messages ("Field required", "Input should be a valid
# UUID", "Value error, ..."): none may reach a client.
ENGLISH = re.compile(
    r"\b(should|Input|Field|required|valid|error|must|least|most|characters?|permitted)\b"
)


def test_every_pydantic_error_type_has_a_french_template() -> None:
    """A type pydantic may raise that the mapping does not know would leak English."""
    types = set(typing.get_args(core_schema.ErrorType))
    assert len(types) > 100
    assert sorted(types - set(FRENCH_TEMPLATES)) == []
    for code, template in FRENCH_TEMPLATES.items():
        assert not ENGLISH.search(template.replace("{error}", "")), code


class Echelon(enum.StrEnum):
    commune = "commune"
    departement = "département"


class Periode(BaseModel):
    debut: dt.date | None = None
    fin: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Periode:
        if self.debut and self.fin and self.fin < self.debut:
            raise ValueError("La fin de la période précède son début.")
        return self


class Everything(Input):
    id: uuid.UUID
    titre: Annotated[str, Field(min_length=2, max_length=5)]
    code: Annotated[str, Field(pattern=r"^\d{5}$")] = "00000"
    nombre: Annotated[int, Field(ge=0, le=10)] = 0
    montant: Annotated[Decimal, Field(max_digits=4, decimal_places=1)] = Decimal(0)
    taux: float = 0
    actif: bool = True
    echelon: Echelon = Echelon.commune
    nature: Literal["réalisation", "résultat"] = "résultat"
    le: dt.date | None = None
    a: dt.datetime | None = None
    mots: Annotated[list[str], Field(max_length=2, default_factory=list)]
    carte: dict[str, int] = Field(default_factory=dict)
    periode: Periode | None = None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "id", "Champ obligatoire manquant."),
        ({"id": "x"}, "id", "Identifiant invalide : un UUID est attendu."),
        ({"id": 5}, "id", "Un identifiant (UUID) est attendu."),
        ({"titre": "a"}, "titre", "Au moins 2 caractère(s) attendu(s)."),
        ({"titre": "abcdef"}, "titre", "Au plus 5 caractère(s) accepté(s)."),
        ({"titre": 5}, "titre", "Une chaîne de caractères est attendue."),
        ({"code": "7500"}, "code", r"La valeur ne respecte pas le format attendu (^\d{5}$)."),
        ({"nombre": "dix"}, "nombre", "Un nombre entier est attendu."),
        ({"nombre": 1.5}, "nombre", "Un nombre entier est attendu (sans partie décimale)."),
        ({"nombre": 11}, "nombre", "La valeur doit être inférieure ou égale à 10."),
        ({"nombre": -1}, "nombre", "La valeur doit être supérieure ou égale à 0."),
        ({"montant": "1,5"}, "montant", "Un nombre décimal est attendu."),
        ({"montant": "12345"}, "montant", "Pas plus de 4 chiffres au total."),
        ({"montant": "1.25"}, "montant", "Pas plus de 1 chiffres après la virgule."),
        ({"taux": "beaucoup"}, "taux", "Un nombre est attendu."),
        ({"actif": "peut-être"}, "actif", "Un booléen est attendu (true ou false)."),
        (
            {"echelon": "région"},
            "echelon",
            "Valeur non reconnue : 'commune' ou 'département' attendu.",
        ),
        (
            {"nature": "autre"},
            "nature",
            "Valeur non reconnue : 'réalisation' ou 'résultat' attendu.",
        ),
        ({"le": "31/12/2026"}, "le", "Date invalide (format attendu AAAA-MM-JJ)."),
        ({"a": "hier"}, "a", "Date et heure invalides ("),
        ({"mots": "un"}, "mots", "Une liste est attendue."),
        ({"mots": ["a", "b", "c"]}, "mots", "Au plus 2 élément(s) accepté(s), 3 reçu(s)."),
        ({"carte": []}, "carte", "Un objet JSON est attendu."),
        ({"carte": {"a": "b"}}, "carte.a", "Un nombre entier est attendu."),
        ({"periode": 3}, "periode", "Un objet JSON est attendu."),
        (
            {"periode": {"debut": "2026-02-01", "fin": "2026-01-01"}},
            "periode",
            "La fin de la période précède son début.",
        ),
        ({"inconnu": 1}, "inconnu", "Champ inconnu : il n'est pas accepté."),
        ({"titre": "a\x00"}, "titre", NUL_MESSAGE),
    ],
)
def test_each_kind_of_bad_input_is_said_in_french(
    data: dict[str, object], field: str, message: str
) -> None:
    body = {"id": str(uuid.uuid4()), "titre": "abc", **data} if data else {}
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate(body)
    entries = {e["field"]: e for e in validation_entries(caught.value.errors(), "body")}
    assert entries[field]["message"].startswith(message), entries
    for entry in entries.values():
        assert not ENGLISH.search(entry["message"]), entry


def test_a_custom_error_keeps_its_french_message() -> None:
    error = PydanticCustomError("annee_hors_bornes", "Année hors des bornes.")
    assert french_message({"type": error.type, "msg": error.message()}) == "Année hors des bornes."
