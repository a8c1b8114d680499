"""Numbers visible in commit order: the sequence numbers a feed or a change log is read
by, page after page (``after=<n>``), by other apps and by clients.

A PostgreSQL sequence alone gives numbers in the order they are drawn, not the order
they are committed: a transaction drawing 8 may commit before the one that drew 7, and a
reader that saw 8 asks for "after 8" next and never sees 7. So a writer takes the
order's lock (a transaction-scoped advisory lock, held until its commit or rollback)
before it draws: writers draw one transaction at a time, every number drawn is committed
(or abandoned, a gap) before the next writer draws, and a reader of committed rows never
sees a number before a smaller one. Readers of rows take no lock; a reader of the
sequence itself (the position a sync token names) takes the lock shared
(`committed_writers`): it waits for the writer holding drawn numbers to commit.

The suite's orders: the conventions' feed (`convention_seq`, read by the replicas), the
actions' and notifications' change numbers (delta sync; drawn by their schema's SQL
function `<schema>.next_change_seq()`, the columns' default, made by
`kernel.migrations.create_next_change_seq`), each app's outbox (`kernel.outbox`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ColumnElement, Sequence, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import Function
from sqlalchemy.sql.selectable import LateralFromClause


class CommitOrder:
    """One order: its lock and how it draws numbers.

    `lock`: a name, whose key is PostgreSQL's ``hashtext`` of it (as the SQL functions
    take it), or a fixed key. `sequence`: the sequence it draws from; None when it draws
    only through `function`, or not at all (an outbox: its serial column's default draws,
    the order only holds the lock). `function`: ``"<schema>.<name>"``, the schema's SQL
    function drawing under this very lock (`kernel.migrations.create_next_change_seq`),
    if it has one: `next` and `next_value` go through it (one round trip, the code a
    column's default runs)."""

    def __init__(
        self,
        lock: str | int,
        sequence: Sequence | None = None,
        *,
        function: str | None = None,
    ) -> None:
        # Written into the statements (no parameter): the typed reads compile statements
        # once with their own parameters only (kernel.reads), and the key is a constant.
        if isinstance(lock, str):
            quoted = lock.replace("'", "''")
            key: ColumnElement[int] = func.hashtext(literal_column(f"'{quoted}'"))
        else:
            key = literal_column(str(int(lock)), BigInteger)
        self.lock = lock
        self._lock = select(func.pg_advisory_xact_lock(key))
        self._shared = select(func.pg_advisory_xact_lock_shared(key))
        self.sequence = sequence
        self._function: tuple[str, str] | None = None
        if function is not None:
            schema, _, name = function.rpartition(".")
            self._function = (schema, name)

    async def hold(self, session: AsyncSession) -> None:
        """Take the lock in the session's transaction, until it ends: from here on, what
        the transaction numbers (`next_value`, a column's default drawing from the
        sequence) becomes visible in commit order. Re-entrant within a transaction."""
        await session.execute(self._lock)

    def next_value(self) -> ColumnElement[int]:
        """A number drawn in a statement (an UPDATE's new numbers): under the lock by the
        SQL function when the order has one, else after the caller's `hold`."""
        if self._function is not None:
            schema, name = self._function
            return Function(name, packagenames=(schema,), type_=BigInteger())
        if self.sequence is None:
            raise TypeError("This order draws no number itself: a column's default does.")
        return self.sequence.next_value()

    async def next(self, session: AsyncSession) -> int:
        """A new number; the lock held until the transaction ends."""
        if self._function is None:
            await self.hold(session)
        return int((await session.execute(select(self.next_value()))).scalar_one())

    def committed_writers(self) -> LateralFromClause:
        """A one-row lateral taking the lock shared: joined first in a statement reading
        the sequence's position, it makes that statement wait for the writer holding
        numbers not committed yet (a `GET` session is autocommit: released at once)."""
        return self._shared.lateral("committed_writers")
