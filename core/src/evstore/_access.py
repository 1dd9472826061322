"""What plugins get instead of a connection: a ``ScopedConnection`` and the ``Rows`` it
returns.

A projection's handlers and migrations, a reactor and a query each get a scoped
connection. It runs SQL inside the kernel's current transaction with its owner's
permissions (reads anywhere, writes only to the owner's declared tables; enforced by the
backend: SQLite's authorizer, PostgreSQL's parser), and nothing it hands out leads back to
the driver's connection: no ``cursor.connection``, no ``commit``, no ``executescript``.

A handler's, migration's or reactor's connection is valid only while the kernel is
running that call: kept and used later (in an after-commit hook, another thread) it
refuses to run, because outside its scope it would run unrestricted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._backend import Cursor, Scope, Session
from ._errors import ProjectionAccessError, TransactionError

Parameters = Sequence[Any] | dict[str, Any]


class Rows:
    """The result of :meth:`ScopedConnection.execute`: iterate it or fetch from it.

    It wraps the driver's cursor without exposing it (a cursor's ``.connection`` would
    lead out of the sandbox)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def fetchmany(self, size: int = 100) -> list[Any]:
        return self._cursor.fetchmany(size)

    def __iter__(self) -> Rows:
        return self

    def __next__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopIteration
        return row

    @property
    def rowcount(self) -> int:
        """Rows changed by an INSERT, UPDATE or DELETE (-1 for queries)."""
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        """Column names of a query, DB-API style: ``description[i][0]``."""
        return self._cursor.description


class ScopedConnection:
    """The connection a projection's handlers and migrations (or a reactor, or a query)
    receive. It has no commit, rollback or executescript: the kernel owns the transaction.
    """

    __slots__ = ("_scope", "_session", "_standalone")

    def __init__(
        self, session: Session, scope: Scope, *, standalone: Callable[[], Callable[[], None]] | None = None
    ) -> None:
        self._session = session
        self._scope = scope
        # A standalone connection (the store's reader) is not entered by the kernel: it
        # enters its own read-only scope around every call, after ``standalone()`` took
        # the store's per-thread lock (it returns the release).
        self._standalone = standalone

    @property
    def owner(self) -> str:
        return self._scope.owner

    @property
    def describe_owner(self) -> str:
        return self._scope.describe

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``, for the rare statement that must differ."""
        return self._session.dialect

    def __enter__(self) -> ScopedConnection:
        self._session.enter(self._scope)
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.leave()

    def _outside(self) -> ProjectionAccessError:
        return ProjectionAccessError(
            f"{self._scope.describe} used its connection outside the call the kernel gave it "
            "to (kept for later, or used from another thread): there it would run unrestricted, "
            "so it refuses. Use the connection only inside the handler, migration or reactor call."
        )

    def execute(self, sql: str, parameters: Parameters = ()) -> Rows:
        session, scope = self._session, self._scope
        if session.active_scope is not scope:
            if self._standalone is None:
                raise self._outside()
            return self._alone(lambda: session.run(scope, sql, parameters))
        return Rows(session.run(scope, sql, parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Parameters]) -> Rows:
        session, scope = self._session, self._scope
        if session.active_scope is not scope:
            if self._standalone is None:
                raise self._outside()
            return self._alone(lambda: session.run_many(scope, sql, seq_of_parameters))
        return Rows(session.run_many(scope, sql, seq_of_parameters))

    def _alone(self, run: Callable[[], Cursor]) -> Rows:
        assert self._standalone is not None
        release = self._standalone()
        session = self._session
        previous = session.active_scope
        try:
            session.enter(self._scope)
            # Rows are fetched before leaving: a cursor read later would read outside
            # the lock, perhaps after another thread closed the connection.
            return Rows(_Fetched(run()))
        finally:
            if previous is None:
                session.leave()
            else:
                session.enter(previous)
            release()

    # --- introspection, the same on every backend --------------------------------------

    def table_names(self) -> list[str]:
        """Every table and view of the store (the kernel's included), sorted."""
        return list(self._read(self._session.table_names))

    def column_names(self, table: str) -> list[str]:
        """``table``'s columns in declaration order (empty if it does not exist)."""
        return list(self._read(lambda: self._session.column_names(table)))

    def schema_objects(self) -> list[tuple[str, str, str, str]]:
        """``(kind, name, table, definition)`` of every table, view, index and trigger,
        sorted; the definitions are the backend's own, so compare them on one backend."""
        return list(self._read(self._session.schema_objects))

    def _read(self, read: Callable[[], Any]) -> Any:
        if self._session.active_scope is self._scope:
            return read()
        if self._standalone is None:
            raise self._outside()
        release = self._standalone()
        try:
            return read()
        finally:
            release()

    def execute_script(self, script: str) -> None:
        """Run several statements, inside the current transaction."""
        for statement in self._session.split_script(script):
            self.execute(statement)

    def fetchone(self, sql: str, parameters: Parameters = ()) -> Any:
        return self.execute(sql, parameters).fetchone()

    def fetchall(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        return self.execute(sql, parameters).fetchall()

    def fetchvalue(self, sql: str, parameters: Parameters = ()) -> Any:
        row = self.execute(sql, parameters).fetchone()
        return None if row is None else row[0]

    def __repr__(self) -> str:
        return f"<ScopedConnection of {self._scope.describe}>"


class _Fetched:
    """A finished statement's rows, read from the cursor at once."""

    __slots__ = ("_rows", "description", "rowcount")

    def __init__(self, cursor: Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self._rows = list(cursor.fetchall()) if cursor.description is not None else []
        self._rows.reverse()

    def fetchone(self) -> Any:
        return self._rows.pop() if self._rows else None

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        rows.reverse()
        return rows

    def fetchmany(self, size: int = 100) -> list[Any]:
        return [self._rows.pop() for _ in range(min(size, len(self._rows)))]


def thread_bound(owner_thread: int, what: str) -> None:
    if threading.get_ident() != owner_thread:
        raise TransactionError(
            f"{what} belongs to the thread that got it; each thread gets its own from the store"
        )


def access_error(scope: Scope, denied: str, table: str | None) -> ProjectionAccessError:
    """A refused statement, worded the same on every backend: what was refused, what the
    scope may write, and whom the table belongs to."""
    if not scope.writable:
        return ProjectionAccessError(
            f"{scope.describe} is not allowed {denied}: it is read-only. Reactors return "
            "events to append instead of writing; queries only read."
        )
    lowered = (table or "").lower()
    owner = scope.owners.get(lowered)
    if lowered == "events" or lowered.startswith("evstore_"):
        fix = "The log and the kernel's tables are written by the kernel alone: append events instead."
    elif owner is not None:
        fix = f"That table belongs to {owner}: read it, or ask its owner for what you need."
    elif table is None:
        fix = "Declare the tables it writes in the projection's tables and create them in a migration."
    else:
        fix = _unknown_owner_fix(lowered)
    return ProjectionAccessError(
        f"{scope.describe} is not allowed {denied}: it may only write the tables it declares "
        f"({', '.join(sorted(scope.writable))}). {fix}"
    )


def _unknown_owner_fix(table: str) -> str:
    """The advice for a refused table that no loaded projection owns: it may still be an
    installed plugin's, and then declaring it would be the wrong advice."""
    from ._registry import installed_table_owners  # plugins are loaded only for this message

    installed = installed_table_owners().get(table)
    if installed is not None:
        return (
            f"That table belongs to {installed}, which is installed but not loaded in this store: "
            "read it (with that plugin loaded), or ask its owner for what you need."
        )
    return (
        "No installed plugin declares it: if it is this projection's own table, declare it in the "
        "projection's tables and create it in a migration; otherwise only read it."
    )


def in_list(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``("(?, ?, ...)", parameters)`` for ``WHERE key IN (...)`` over ``values``, padded
    to a power of two (at least 8) by repeating the last value, which changes no result.

    The kernel checks each distinct statement text a projection runs (on PostgreSQL with
    the server's parser) and keeps a bounded number of them: an IN list of every length
    would make a new text per call, so a batch handler reading rows by id keeps a few
    sizes instead. ``values`` must not be empty."""
    if not values:
        raise ValueError("in_list needs at least one value: an empty IN list matches nothing, skip the query")
    size = 8
    while size < len(values):
        size *= 2
    padded = [*values, *([values[-1]] * (size - len(values)))]
    return f"({', '.join('?' * size)})", padded
