"""Every typed read of every app (kernel.reads): its row type is what its statement
selects, field by field, and each field's type is its column's (the model's annotation
for a mapped column, the column type's Python type otherwise), None allowed wherever the
column may be NULL."""

from __future__ import annotations

import datetime as dt
import decimal
import types
import typing
import uuid
from typing import Any

import pytest
from sqlalchemy import Column, ColumnElement, Table
from sqlalchemy.orm import DeclarativeBase

import services.actions.repository
import services.actions.repository_discussions
import services.actions.repository_suivis
import services.actions.repository_sync
import services.conventions.repository
import services.documents.repository  # noqa: F401  (their reads are declared on import)
from kernel.reads import DECLARED, GROUP_SEPARATOR, Read, row_hints
from services.actions.models import Base as ActionsBase
from services.conventions.models import Base as ConventionsBase
from services.documents.models import Base as DocumentsBase

_MAPPED = {
    mapper.local_table: mapper.class_
    for base in (ActionsBase, ConventionsBase, DocumentsBase)
    for mapper in base.registry.mappers
}
READS = [r for r in DECLARED if r.row.__module__.startswith("services.")]


def _fields(row: type[tuple[Any, ...]], optional: bool = False) -> list[tuple[str, Any, bool]]:
    """(label, annotation, inside an optional group) of each column a row reads."""
    out = []
    for name, annotation in row_hints(row).items():
        args = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        members = [a for a in args if a is not type(None)]
        nested = (
            len(members) == 1 and isinstance(members[0], type) and hasattr(members[0], "_fields")
        )
        if nested:
            group = type(None) in args
            out += [
                (f"{name}{GROUP_SEPARATOR}{label}", sub, inner)
                for label, sub, inner in _fields(members[0], optional or group)
            ]
        else:
            out.append((name, annotation, optional))
    return out


def _is_union(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _split(annotation: object) -> tuple[object, bool]:
    """The type without None, and whether None is allowed."""
    if not _is_union(annotation):
        return annotation, False
    args = typing.get_args(annotation)
    rest = [a for a in args if a is not type(None)]
    return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), type(None) in args  # noqa: UP007


def _expected(column: ColumnElement[Any]) -> tuple[object, bool | None]:
    """The column's Python type, and whether it may be NULL (None: unknown, an
    expression)."""
    (base,) = column.base_columns
    if isinstance(base, Column) and isinstance(base.table, Table):
        model: type[DeclarativeBase] | None = _MAPPED.get(base.table)
        if model is not None:
            mapped = typing.get_type_hints(model)[base.key]
            return _split(typing.get_args(mapped)[0])
        return base.type.python_type, base.nullable
    return column.type.python_type, None


def _same(annotation: object, expected: object) -> bool:
    if expected in (Any, object) or annotation in (Any, object):
        return True
    origin, wanted = typing.get_origin(annotation), typing.get_origin(expected)
    if origin is None or wanted is None:
        # A type against a column type's Python type (list for an ARRAY, dict for JSON).
        return (origin or annotation) == (wanted or expected)
    args, wanted_args = typing.get_args(annotation), typing.get_args(expected)
    return origin == wanted and all(_same(a, b) for a, b in zip(args, wanted_args, strict=True))


@pytest.mark.parametrize("read", READS, ids=lambda r: r.row.__name__)
def test_each_row_type_is_what_its_statement_selects(read: Read[Any, Any]) -> None:
    fields = _fields(read.row)
    for variant in read.variants:
        statement = read.build(variant)
        selected = list(statement.selected_columns)
        assert [c.key for c in selected] == [label for label, _, _ in fields]
        for column, (label, annotation, in_optional_group) in zip(selected, fields, strict=True):
            declared, none_allowed = _split(annotation)
            expected, nullable = _expected(column)
            assert _same(declared, expected), (
                f"{read.row.__name__}.{label}: {declared} / {expected}"
            )
            if nullable:
                assert none_allowed or in_optional_group, f"{read.row.__name__}.{label}: NULL"


def test_every_app_declares_its_hot_reads() -> None:
    # The reads the tests above check: a read declared elsewhere would escape them.
    rows = {r.row.__name__ for r in READS}
    assert {
        "ConventionListed",
        "ConventionDetailRow",
        "DocumentPageRow",
        "ActionListed",
        "CampagneConventions",
        "CampagneCafs",
        "ARenseignerRow",
        "SyncPoint",
    } <= rows


def test_a_mismatch_is_seen() -> None:
    """The checks above can fail: a row type with a column's wrong type."""
    assert not _same(int, str)
    assert not _same(list[uuid.UUID], list[str])
    assert _same(dt.date, dt.date)
    assert _same(decimal.Decimal, decimal.Decimal)
