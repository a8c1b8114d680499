"""Guessing which of a user's own columns holds each expected field, for a "confirm" step.

Headers are compared once normalised (accents, case, punctuation and spacing ignored):
the expected label itself scores 1.0, a listed synonym 0.95, otherwise the closest of
label and synonyms by difflib's ratio (kept from `cutoff` up). Each column serves one
field and each field one column, best scores first. The result says how sure it is:
anything short of exact matches for every required field needs the user's confirmation.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from kernel.tabular.columns import CellValue

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_header(text: str) -> str:
    """« Échéances de réalisation » → « echeances de realisation »; œ → oe."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _NOT_ALNUM.sub(" ", plain).strip()


@dataclass(frozen=True)
class Expected:
    key: str
    label: str  # the template's header
    synonyms: tuple[str, ...] = ()
    required: bool = False


class How(StrEnum):
    exact = "exact"
    synonyme = "synonyme"
    approche = "approché"


@dataclass(frozen=True)
class Match:
    key: str
    column: int  # 0-based index in the user's header row
    header: str  # the user's header, as typed
    confidence: float
    how: How


@dataclass(frozen=True)
class HeaderMapping:
    matches: tuple[Match, ...]
    missing: tuple[str, ...]  # required keys no column matched
    unmatched_columns: tuple[int, ...]  # user's non-empty columns left unused

    @property
    def confidence(self) -> float:
        """The weakest match (0 when a required field is missing)."""
        if self.missing:
            return 0.0
        return min((m.confidence for m in self.matches), default=0.0)

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.missing) or any(m.how is not How.exact for m in self.matches)

    def column_of(self, key: str) -> int | None:
        return next((m.column for m in self.matches if m.key == key), None)


def _score(header: str, expected: Expected) -> tuple[float, How]:
    label = normalise_header(expected.label)
    if header == label:
        return 1.0, How.exact
    synonyms = [normalise_header(s) for s in expected.synonyms]
    if header in synonyms:
        return 0.95, How.synonyme
    best = max(difflib.SequenceMatcher(None, header, c).ratio() for c in [label, *synonyms])
    # Never as sure as a listed name, however close.
    return min(best, 0.94), How.approche


def guess_mapping(
    headers: Sequence[CellValue], expected: Sequence[Expected], cutoff: float = 0.75
) -> HeaderMapping:
    """Which column of `headers` (the user's header row) holds each expected field."""
    cells = {
        i: (str(h).strip(), normalise_header(str(h)))
        for i, h in enumerate(headers)
        if h is not None and normalise_header(str(h))
    }
    candidates = []
    for i, (_, norm) in cells.items():
        for rank, exp in enumerate(expected):
            score, how = _score(norm, exp)
            if score >= cutoff:
                candidates.append((-score, rank, i, exp, how))
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    used_columns: set[int] = set()
    matched: dict[str, Match] = {}
    for neg_score, _, i, exp, how in candidates:
        if i in used_columns or exp.key in matched:
            continue
        used_columns.add(i)
        matched[exp.key] = Match(exp.key, i, cells[i][0], round(-neg_score, 3), how)
    order = {e.key: n for n, e in enumerate(expected)}
    return HeaderMapping(
        matches=tuple(sorted(matched.values(), key=lambda m: order[m.key])),
        missing=tuple(e.key for e in expected if e.required and e.key not in matched),
        unmatched_columns=tuple(i for i in cells if i not in used_columns),
    )
