"""The typed read path: a hot read declared once, compiled once per variant, run on asyncpg.

A read (`Read`) names its row type, a ``NamedTuple`` declared in the repository (a field
typed with another NamedTuple is a group of columns, None when they are all NULL: the
missing side of an outer join), its statement (`columns` selects the row type's fields
in their order), the small explicit set of variants it is built for (the caller's scope
kind, say), its optional filters (each used when the call gives its parameter) and its
keyset. The kernel builds and compiles each variant a call needs once, through
SQLAlchemy's public compile outputs (the statement's text with named placeholders, its
constant parameters and bind processors), and runs it straight on the request's asyncpg
connection (`kernel.database.ReadSession`): one round trip, no ORM instance, no
SQLAlchemy work per call, rows of the declared type.

Why not through SQLAlchemy's session: building the statement, its cache key, the
execution context and ORM rows cost more CPU than PostgreSQL took to answer on the
hottest endpoints (py-spy, see docs/architecture.md).
"""

from __future__ import annotations

import itertools
import re
import types
import typing
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar, cast

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, QueryableAttribute
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import KeyedColumnElement

from kernel.database import ReadSession, cut_unresponsive
from kernel.pagination import KeyColumn, decode_cursor, encode_cursor, key_types
from kernel.pagination import after as after_clause
from kernel.pagination import expressions as key_expressions

R = TypeVar("R", bound=NamedTuple)
V = TypeVar("V", bound=Hashable)

# Named placeholders (``%(name)s``), so that the order of the positional arguments is
# ours: SQLAlchemy's own positional order is no public output of a compiled statement.
_DIALECT = asyncpg_dialect(paramstyle="pyformat")  # type: ignore[no-untyped-call]
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
GROUP_SEPARATOR = "__"

# What a column of a row may come from: an ORM entity or alias, a table or a subquery.
Source = object
# A record as the driver gives it (asyncpg's Record, SQLAlchemy's Row): its values.
Record = Sequence[object]
RowType = type[NamedTuple]


# --- row types ---------------------------------------------------------------------------


def group_type(annotation: object) -> tuple[RowType, bool] | None:
    """The NamedTuple a field holds (and whether it may be None), or None for a column."""
    optional = False
    candidates: tuple[object, ...] = (annotation,)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        optional = type(None) in args
        candidates = tuple(a for a in args if a is not type(None))
    if len(candidates) == 1 and _is_row_type(candidates[0]):
        return cast(RowType, candidates[0]), optional
    return None


def _is_row_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_fields")


def row_hints(row: RowType) -> dict[str, object]:
    """The row type's fields and their annotations, in order."""
    hints = typing.get_type_hints(row)
    return {name: hints[name] for name in row._fields}


def row_labels(row: RowType) -> list[str]:
    """The labels of the columns a row type reads, in order: a group's as
    ``<field>__<its field>``."""
    out: list[str] = []
    for name, annotation in row_hints(row).items():
        group = group_type(annotation)
        if group is None:
            out.append(name)
        else:
            out += [f"{name}{GROUP_SEPARATOR}{sub}" for sub in row_labels(group[0])]
    return out


def _builder(row: RowType) -> Callable[[Record], NamedTuple]:
    """Makes a row from a record (asyncpg's, or any sequence) of `row_labels(row)`."""
    make = row._make
    hints = row_hints(row)
    if all(group_type(a) is None for a in hints.values()):
        return make  # a flat row: the record's values as they are
    parts: list[Callable[[Record], object]] = []
    start = 0
    for annotation in hints.values():
        group = group_type(annotation)
        if group is None:
            parts.append(_column_part(start))
            start += 1
            continue
        sub, optional = group
        width = len(row_labels(sub))
        build = _builder(sub)
        parts.append(_group_part(build, start, start + width, optional))
        start += width
    return lambda rec: make([part(rec) for part in parts])


def _column_part(index: int) -> Callable[[Record], object]:
    return lambda rec: rec[index]


def _group_part(
    build: Callable[[Record], NamedTuple], start: int, stop: int, optional: bool
) -> Callable[[Record], object]:
    def part(rec: Record) -> NamedTuple | None:
        values = tuple(rec[start:stop])
        if optional and all(v is None for v in values):
            return None  # the outer join found nothing
        return build(values)

    return part


def columns(row: RowType, *sources: Source, **given: object) -> list[ColumnElement[Any]]:
    """The columns of `row`, in its order, labelled with its field names: an expression
    given by name, else the column of that name of the first source that has it. A group
    field (a NamedTuple) is given by its name as its columns (`columns` of its type), as
    a composite attribute whose columns are its fields in order, or as the source to take
    them from; by default the sources' composite of that name, else their columns."""
    out: list[ColumnElement[Any]] = []
    for name, annotation in row_hints(row).items():
        group = group_type(annotation)
        chosen = given.get(name)
        if group is not None:
            if chosen is None:
                chosen = _composite_of(sources, name)
            if isinstance(chosen, Bundle):
                chosen = _composite_columns(group[0], chosen)
            elif not isinstance(chosen, list):
                chosen = columns(group[0], *((chosen,) if chosen is not None else sources))
            out += [c.label(f"{name}{GROUP_SEPARATOR}{c.key}") for c in chosen]
        elif isinstance(chosen, QueryableAttribute):
            out.append(chosen.expression.label(name))
        elif isinstance(chosen, ColumnElement):
            out.append(chosen.label(name))
        elif chosen is not None:
            raise TypeError(f"{name}: ni colonne ni expression")
        else:
            out.append(_column_of(sources, name).label(name))
    return out


def _composite_of(sources: Sequence[Source], name: str) -> Bundle[Any] | None:
    """The columns of the first source's composite attribute `name` (SQLAlchemy's
    `composite()`: a group of columns mapped as one value), if it has one."""
    for source in sources:
        attribute = getattr(source, name, None) if getattr(source, "c", None) is None else None
        expression = getattr(attribute, "expression", None)
        if isinstance(expression, Bundle):
            return expression
    return None


def _composite_columns(group: RowType, composite: Bundle[Any]) -> list[ColumnElement[Any]]:
    """A composite's columns, labelled as the group's fields they give (in order)."""
    fields = group._fields
    exprs = [e for e in composite.exprs if isinstance(e, ColumnElement)]
    if len(exprs) != len(fields) or len(exprs) != len(composite.exprs):
        raise TypeError(f"{group.__name__}: {len(exprs)} colonnes pour {len(fields)} champs")
    return [expr.label(name) for expr, name in zip(exprs, fields, strict=True)]


def _column_of(sources: Sequence[Source], name: str) -> ColumnElement[object]:
    for source in sources:
        collection = getattr(source, "c", None)
        if collection is not None and name in collection:
            return cast(ColumnElement[object], collection[name])
        attribute = getattr(source, name, None) if collection is None else None
        if attribute is not None and hasattr(attribute, "expression"):
            return cast(ColumnElement[object], attribute.expression)
    raise LookupError(f"{name}: aucune source ne porte cette colonne")


def row_from(row: type[R], obj: object, **given: object) -> R:
    """A row of `row` from an object with the same attributes (an ORM instance: a write's
    answer goes through the same row type, and the same rules, as a read's); a group
    from the object's composite of its name."""
    values = []
    for name, annotation in row_hints(row).items():
        if name in given:
            values.append(given[name])
            continue
        group = group_type(annotation)
        value = getattr(obj, name) if group is None else getattr(obj, name, None)
        # A group is the object's value of its type (a composite's), or given by name.
        if group is not None and not (isinstance(value, group[0]) or (value is None and group[1])):
            raise ValueError(f"{name}: un groupe se donne par son nom")
        values.append(value)
    return row._make(values)


# --- compiling -----------------------------------------------------------------------------


# How SQLAlchemy converts a parameter's value for the driver.
Processor = Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement compiled for asyncpg: its text with ``$n`` placeholders, and what each
    argument is: (name, constant value, given by the caller, bind processor)."""

    sql: str
    slots: tuple[tuple[str, object, bool, Processor | None], ...]

    @classmethod
    def of(cls, statement: Select[Any]) -> Compiled:
        statement = _named_constants(statement)
        compiled = statement.compile(dialect=_DIALECT)
        text = str(compiled)
        if "POSTCOMPILE" in text:
            raise ValueError("liste IN dépliée : utiliser = ANY(tableau)")
        values: dict[str, object] = dict(compiled.params)
        processors = _bind_processors(statement)
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"  # a literal %, doubled in pyformat
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        sql = _PLACEHOLDER.sub(number, text)
        slots: list[tuple[str, object, bool, Processor | None]] = []
        for name in names:
            processor, constant = processors[name], values[name]
            if not name.startswith("constant_"):
                slots.append((name, None, True, processor))
                continue
            # A constant is converted once; never an id: it would be baked into every
            # later call (a bindparam is what the caller gives).
            if _holds_id(constant):
                raise ValueError(
                    f"{constant}: identifiant écrit dans la requête, utiliser bindparam"
                )
            converted = constant if processor is None or constant is None else processor(constant)
            slots.append((name, converted, False, None))
        return cls(sql, tuple(slots))

    def arguments(self, params: Mapping[str, object]) -> list[object]:
        """The positional arguments, from named values (a parameter missing: KeyError)."""
        out = []
        for name, constant, required, processor in self.slots:
            value = params[name] if required or name in params else constant
            if processor is not None and value is not None:
                value = processor(value)
            out.append(value)
        return out


def _named_constants(statement: Select[Any]) -> Select[Any]:
    """The statement with each constant (a literal, a LIMIT 1) as a named parameter of
    its value: what SQLAlchemy names them is no public output, and their values need
    the same conversions as the caller's parameters."""
    numbers = itertools.count()

    def named(element: Any, **kw: Any) -> BindParameter[Any] | None:
        if (
            isinstance(element, BindParameter)
            and not element.required
            and not element.expanding  # an IN list: refused below, as the caller's would be
        ):
            return bindparam(f"constant_{next(numbers)}", element.value, type_=element.type)
        return None

    return cast(Select[Any], visitors.replacement_traverse(statement, {}, named))


def _bind_processors(statement: Select[Any]) -> dict[str, Processor | None]:
    """How SQLAlchemy converts each parameter's value for asyncpg (a JSON value to its
    text, a tuple to a list), from the parameter's type."""
    return {
        element.key: element.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
        for element in visitors.iterate(statement)
        if isinstance(element, BindParameter)
    }


def _holds_id(value: object) -> bool:
    if isinstance(value, list | tuple):
        return any(_holds_id(v) for v in value)
    return isinstance(value, uuid.UUID)


# --- keysets and variants ------------------------------------------------------------------


@dataclass(frozen=True)
class Keyset:
    """The order a read pages on (all ascending, or all `descending`): resumed after the
    sort key of the last row shown (``after_0``… parameters), which the row carries in
    its fields of the same names (or `key` reads it)."""

    columns: tuple[KeyColumn, ...]
    descending: bool = False
    key: Callable[[Any], Sequence[object]] | None = None

    def order_by(self, columns: Sequence[ColumnElement[object]] | None = None) -> list[Any]:
        """The ORDER BY of the keyset (on `columns`: the same keys read from a subquery)."""
        keys = columns if columns is not None else key_expressions(self.columns)
        return [k.desc() for k in keys] if self.descending else list(keys)

    def after(self, columns: Sequence[ColumnElement[object]] | None = None) -> ColumnElement[bool]:
        """Rows after the sort key of the parameters ``after_0``… (on `columns`: as
        `order_by`)."""
        declared = key_expressions(self.columns)
        binds = [bindparam(f"after_{i}", type_=c.type) for i, c in enumerate(declared)]
        return after_clause(columns if columns is not None else declared, binds, self.descending)

    def decode(self, cursor: str) -> list[object]:
        return decode_cursor(cursor, key_types(self.columns))

    def names(self) -> list[str]:
        out = []
        for c in key_expressions(self.columns):
            if not isinstance(c, KeyedColumnElement) or c.key is None:
                raise ValueError("une clé de pagination sans nom : donner `key`")
            out.append(c.key)
        return out


@dataclass(frozen=True, slots=True)
class Slice(Generic[V]):
    """What one call takes of a read's statement: its variant, the optional filters it
    gives, whether it resumes after a sort key, the keyset's order and a ``limit``. The
    builder puts them on the select they restrict (`apply`; or `filtered` and `paged`
    apart, for a statement that pages a subquery of the filtered rows)."""

    variant: V
    filters: tuple[ColumnElement[bool], ...]
    keyset: Keyset | None
    resume: bool

    def filtered(self, select: Select[Any]) -> Select[Any]:
        """`select` with the optional filters this call gives."""
        return select.where(*self.filters) if self.filters else select

    def paged(
        self, select: Select[Any], keys: Sequence[ColumnElement[object]] | None = None
    ) -> Select[Any]:
        """`select` resumed after the sort key (when the call gives one), in the keyset's
        order, limited: on the keyset's columns, or the same keys as `select` reads them
        (`keys`: from a subquery, a CTE)."""
        if self.keyset is None:
            return select
        if self.resume:
            select = select.where(self.keyset.after(keys))
        return select.order_by(*self.keyset.order_by(keys)).limit(bindparam("limit"))

    def apply(self, select: Select[Any]) -> Select[Any]:
        """`filtered`, then `paged`: a read whose filters and keyset are on one select."""
        return self.paged(self.filtered(select))


class KeysetPage(NamedTuple, Generic[R]):
    rows: list[R]
    # The sort key of the last row shown, when more follow.
    next_key: tuple[object, ...] | None

    @property
    def next_cursor(self) -> str | None:
        return None if self.next_key is None else encode_cursor(self.next_key)


Filter = Callable[[BindParameter[Any]], ColumnElement[bool]]


class Read(Generic[R, V]):
    """A hot read, declared once (see the module's docstring).

    `statement(slice)` builds the statement of one variant (`slice.variant`, one of
    `variants`) and calls `slice.apply` on the select the optional filters, the keyset and
    the limit restrict. Each of `filters` is included when the call gives its parameter
    (not None); the bind parameter it is given carries that name.
    """

    def __init__(
        self,
        row: type[R],
        statement: Callable[[Slice[V]], Select[Any]],
        *,
        variants: Iterable[V],
        filters: Mapping[str, Filter] | None = None,
        keyset: Keyset | None = None,
    ) -> None:
        self.row = row
        self.variants = tuple(variants)
        self._statement = statement
        self._filters = dict(filters or {})
        self.keyset = keyset
        self._make = cast(Callable[[Record], R], _builder(row))
        self._compiled: dict[tuple[V, tuple[str, ...], bool], Compiled] = {}
        self._key = self._key_reader(keyset)
        DECLARED.append(self)

    def _key_reader(self, keyset: Keyset | None) -> Callable[[R], Sequence[object]] | None:
        if keyset is None:
            return None
        if keyset.key is not None:
            return keyset.key
        fields = list(self.row._fields)
        indexes = [fields.index(name) for name in keyset.names()]
        return lambda row: tuple(row[i] for i in indexes)

    def build(
        self, variant: V, filters: Iterable[str] = (), *, resume: bool = False
    ) -> Select[Any]:
        """The statement of one variant (what is compiled; the tests read it too)."""
        if variant not in self.variants:
            raise ValueError(f"{variant!r}: variante non déclarée")
        clauses = tuple(self._filters[name](bindparam(name)) for name in filters)
        return self._statement(Slice(variant, clauses, self.keyset, resume))

    def compiled(self, variant: V, params: Mapping[str, object], resume: bool) -> Compiled:
        used = tuple(name for name in self._filters if params.get(name) is not None)
        key = (variant, used, resume)
        found = self._compiled.get(key)
        if found is None:
            statement = self.build(variant, used, resume=resume)
            labels = [c.key for c in statement.selected_columns]
            if labels != row_labels(self.row):
                raise TypeError(f"{self.row.__name__}: colonnes {labels}")
            found = self._compiled[key] = Compiled.of(statement)
        return found

    @property
    def compiled_variants(self) -> frozenset[tuple[V, tuple[str, ...], bool]]:
        """The variants compiled so far: (variant, optional filters given, resumed)."""
        return frozenset(self._compiled)

    async def all(self, session: AsyncSession, variant: V, params: Mapping[str, object]) -> list[R]:
        records = await _fetch(session, self.compiled(variant, params, False), params)
        make = self._make
        return [make(r) for r in records]

    async def first(
        self, session: AsyncSession, variant: V, params: Mapping[str, object]
    ) -> R | None:
        rows = await self.all(session, variant, params)
        return rows[0] if rows else None

    async def page(
        self,
        session: AsyncSession,
        variant: V,
        params: Mapping[str, object],
        *,
        limit: int,
        cursor: str | None = None,
        after: Sequence[object] | None = None,
    ) -> KeysetPage[R]:
        """At most `limit` rows, after `cursor` (an opaque cursor of this keyset: 400 if
        forged) or the decoded sort key `after`; and the key to resume after them."""
        keyset, key = self.keyset, self._key
        if keyset is None or key is None:
            raise TypeError("lecture sans pagination")
        if cursor is not None:
            after = keyset.decode(cursor)
        values = dict(params, limit=limit + 1)
        if after is not None:
            values.update((f"after_{i}", v) for i, v in enumerate(after))
        compiled = self.compiled(variant, values, after is not None)
        make = self._make
        rows = [make(r) for r in await _fetch(session, compiled, values)]
        if len(rows) <= limit:
            return KeysetPage(rows, None)
        del rows[limit:]
        return KeysetPage(rows, tuple(key(rows[-1])))


# Every read declared, for the tests that check each row type against its statement.
DECLARED: list[Read[Any, Any]] = []


async def _fetch(
    session: AsyncSession, compiled: Compiled, params: Mapping[str, object]
) -> Sequence[Record]:
    """A safe request's reads run on its read connection (`ReadSession`); any other
    session's go through SQLAlchemy's own connection, in the session's transaction (the
    same SQL text, as the driver takes it: `exec_driver_sql`)."""
    arguments = compiled.arguments(params)
    if not isinstance(session, ReadSession):
        connection = await session.connection()
        return (await connection.exec_driver_sql(compiled.sql, tuple(arguments))).all()
    driver = await session.read_connection()
    session.statement_run(compiled.sql, arguments)
    try:
        return await driver.fetch(compiled.sql, *arguments)
    except TimeoutError as exc:
        raise cut_unresponsive(driver) from exc
