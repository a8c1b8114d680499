"""A user's own headers matched to the expected columns (then confirmed), and imported
cells read as the type a field expects, with French messages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kernel.tabular import (
    CellError,
    Expected,
    as_bool,
    as_date,
    as_decimal,
    as_int,
    as_text,
    guess_mapping,
)
from kernel.tabular.mapping import How

FICHE = (
    Expected("reference", "Référence", ("N°", "Numéro", "Réf"), required=True),
    Expected("titre", "Intitulé de l'action", ("Action", "Titre"), required=True),
    Expected("echeances", "Echéances de réalisation", ("Échéance", "Date de fin")),
    Expected("public", "Public cible", ("Publics",)),
    Expected("modalites", "Modalités de mise en œuvre"),
)


def test_the_template_headers_map_exactly() -> None:
    headers = [e.label for e in FICHE]
    mapping = guess_mapping(headers, FICHE)
    assert [(m.key, m.column, m.how) for m in mapping.matches] == [
        (e.key, i, How.exact) for i, e in enumerate(FICHE)
    ]
    assert mapping.confidence == 1.0
    assert not mapping.needs_confirmation


def test_a_users_own_headers_are_guessed_and_need_confirmation() -> None:
    headers = [
        "  ACTION ",
        None,
        "n°",
        "ECHEANCES DE REALISATION",
        "Modalites de mise en oeuvre",
        "Commentaire",
        "Public cile",
    ]
    mapping = guess_mapping(headers, FICHE)
    by_key = {m.key: m for m in mapping.matches}
    assert (by_key["titre"].column, by_key["titre"].how) == (0, How.synonyme)
    assert by_key["titre"].header == "ACTION"
    assert (by_key["reference"].column, by_key["reference"].how) == (2, How.synonyme)
    # Accents, case and œ ignored: exact.
    assert by_key["echeances"].how is How.exact
    assert by_key["modalites"].how is How.exact
    # A typo: a close match, less sure than a listed name.
    assert by_key["public"].column == 6
    assert by_key["public"].how is How.approche
    assert 0.75 <= by_key["public"].confidence < 0.95
    assert mapping.unmatched_columns == (5,)
    assert mapping.missing == ()
    assert mapping.needs_confirmation
    assert mapping.confidence == by_key["public"].confidence


def test_a_missing_required_column_is_reported() -> None:
    mapping = guess_mapping(["Intitulé de l'action", "Remarques"], FICHE)
    assert mapping.missing == ("reference",)
    assert mapping.confidence == 0.0
    assert mapping.column_of("titre") == 0
    assert mapping.column_of("reference") is None


def test_one_column_serves_one_field() -> None:
    """ "Action" is a synonym of the title; the exact title column wins it."""
    mapping = guess_mapping(["Action", "Intitulé de l'action"], FICHE)
    assert mapping.column_of("titre") == 1
    assert mapping.unmatched_columns == (0,)


def test_cells_read_as_their_field_expects() -> None:
    assert as_decimal("1 234,5") == Decimal("1234.5")
    assert as_decimal("42,5 %") == Decimal("0.425")
    assert as_decimal(12) == Decimal(12)
    assert as_int("12") == 12
    assert as_date("31/03/2026") == dt.date(2026, 3, 31)
    assert as_date("2026-03-31") == dt.date(2026, 3, 31)
    assert as_date(dt.datetime(2026, 3, 31)) == dt.date(2026, 3, 31)  # noqa: DTZ001
    assert as_bool("Oui") is True
    assert as_bool("non") is False
    assert as_text(dt.date(2026, 3, 31)) == "31/03/2026"
    assert as_text("  ") is None
    for value in (None,):
        assert as_decimal(value) is as_date(value) is as_bool(value) is None


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (as_decimal, "douze", "nombre attendu, trouvé « douze »"),
        (as_int, "2,5", "nombre entier attendu"),
        (as_date, "31/02/2026", "date attendue (jj/mm/aaaa), trouvé « 31/02/2026 »"),
        (as_date, dt.datetime(2026, 3, 31, 14, 5), "date attendue, trouvé une date avec une heure"),  # noqa: DTZ001
        (as_bool, "peut-être", "« oui » ou « non » attendu"),
    ],
)
def test_a_cell_that_does_not_fit_says_why_in_french(
    reader: object, value: object, message: str
) -> None:
    with pytest.raises(CellError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reader(value)  # type: ignore[operator]
