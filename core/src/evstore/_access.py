"""Table ownership, enforced by SQLite itself.

Every connection gets one authorizer for its lifetime. While a projection's handler or
migration runs, the authorizer refuses any write, DDL or transaction-control statement
outside that projection's declared tables; reactors get no write access at all. This is
what lets a third party's projection run inside our append transaction without being able
to corrupt the log, another projection or the transaction itself (a ``COMMIT`` issued by a
handler would make half an append durable).

SQLite calls the authorizer when a statement is prepared, and Python's sqlite3 caches
prepared statements by SQL text. So statements run on behalf of an owner are tagged with a
leading comment naming it: a statement prepared for one owner is never reused for another,
and each is checked once, not on every execution.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ._errors import ProjectionAccessError

_TABLE_IN_ARG1 = {
    sqlite3.SQLITE_INSERT,
    sqlite3.SQLITE_UPDATE,
    sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_DROP_VIEW,
}
_TABLE_IN_ARG2 = {
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_ALTER_TABLE,
}
_ALWAYS_DENIED = {
    sqlite3.SQLITE_TRANSACTION: "transaction control (BEGIN/COMMIT/ROLLBACK)",
    sqlite3.SQLITE_SAVEPOINT: "savepoints",
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_CREATE_TEMP_TABLE: "temporary tables",
    sqlite3.SQLITE_CREATE_TEMP_INDEX: "temporary indexes",
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "temporary triggers",
    sqlite3.SQLITE_CREATE_TEMP_VIEW: "temporary views",
    sqlite3.SQLITE_CREATE_VTABLE: "virtual tables",
    sqlite3.SQLITE_DROP_VTABLE: "virtual tables",
}
# Pragmas that take an argument but only read (schema introspection).
_READ_PRAGMAS = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
}
# SQLite reports its own bookkeeping writes (a CREATE TABLE inserts into sqlite_master);
# the statement that causes them has already been checked.
_INTERNAL = {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_sequence"}


class Guard:
    """The per-connection authorizer state: who is running SQL right now."""

    __slots__ = ("denied", "owner", "writable")

    def __init__(self) -> None:
        self.owner: str | None = None  # None: the kernel itself, unrestricted
        self.writable: frozenset[str] = frozenset()
        self.denied: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        if self.owner is None:
            return sqlite3.SQLITE_OK
        if action in _ALWAYS_DENIED:
            return self._deny(_ALWAYS_DENIED[action])
        if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and arg1 not in _READ_PRAGMAS:
            return self._deny(f"setting PRAGMA {arg1}")
        if action in _TABLE_IN_ARG1:
            table = arg1
        elif action in _TABLE_IN_ARG2:
            table = arg2
        else:
            return sqlite3.SQLITE_OK
        if table is None or table.lower() in _INTERNAL or table.lower() in self.writable:
            return sqlite3.SQLITE_OK
        return self._deny(f"writing table {table!r}")

    def _deny(self, what: str) -> int:
        self.denied = what
        return sqlite3.SQLITE_DENY


def install_guard(conn: sqlite3.Connection) -> Guard:
    guard = Guard()
    conn.set_authorizer(guard)
    return guard


def split_statements(script: str) -> list[str]:
    """Split a migration script into statements without ``executescript``, which would
    COMMIT the surrounding transaction and so break the all-or-nothing migration."""
    statements: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\r\n;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \t\r\n;"):
        statements.append(current.strip().rstrip(";"))
    return statements


class ScopedConnection:
    """The connection a projection's handlers and migrations (or a reactor) receive.

    It runs SQL inside the current transaction with the owner's permissions: reads
    anywhere, writes only to the owner's declared tables. It has no commit, rollback or
    executescript: the kernel owns the transaction.
    """

    __slots__ = ("_conn", "_guard", "_standalone", "_tagged", "_writable", "describe_owner", "owner")

    def __init__(
        self,
        conn: sqlite3.Connection,
        guard: Guard,
        owner: str,
        writable: Iterable[str],
        describe_owner: str,
        *,
        standalone: bool = False,
    ) -> None:
        self._conn = conn
        # A standalone scope (the store's reader) applies its restrictions on every
        # call; the others are entered by the kernel around a handler or migration.
        self._standalone = standalone
        self._guard = guard
        self.owner = owner
        self.describe_owner = describe_owner
        self._writable = frozenset(t.lower() for t in writable)
        self._tagged: dict[str, str] = {}

    def _tag(self, sql: str) -> str:
        tagged = self._tagged.get(sql)
        if tagged is None:
            tagged = self._tagged[sql] = f"/* evstore:{self.owner} */ {sql}"
        return tagged

    def __enter__(self) -> ScopedConnection:
        guard = self._guard
        guard.owner, guard.writable, guard.denied = self.owner, self._writable, None
        return self

    def __exit__(self, *exc: object) -> None:
        self._guard.owner = None

    def _refused(self, error: sqlite3.DatabaseError) -> Exception:
        denied = self._guard.denied
        if denied is None:
            return error
        self._guard.denied = None
        if not self._writable:
            return ProjectionAccessError(
                f"{self.describe_owner} is not allowed {denied}: it is read-only. Reactors "
                "return events to append instead of writing; queries only read."
            )
        return ProjectionAccessError(
            f"{self.describe_owner} is not allowed {denied}: it may only write the tables "
            f"it declares ({', '.join(sorted(self._writable))}). Declare the table in the "
            "projection's tables, or read it instead of writing it."
        )

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        if self._standalone and self._guard.owner is None:
            with self:
                return self.execute(sql, parameters)
        try:
            return self._conn.execute(self._tag(sql), parameters)
        except sqlite3.DatabaseError as error:
            raise self._refused(error) from None

    def executemany(
        self, sql: str, seq_of_parameters: Iterable[Sequence[Any] | dict[str, Any]]
    ) -> sqlite3.Cursor:
        if self._standalone and self._guard.owner is None:
            with self:
                return self.executemany(sql, seq_of_parameters)
        try:
            return self._conn.executemany(self._tag(sql), seq_of_parameters)
        except sqlite3.DatabaseError as error:
            raise self._refused(error) from None

    def execute_script(self, script: str) -> None:
        """Run several statements, inside the current transaction."""
        for statement in split_statements(script):
            self.execute(statement)

    def fetchone(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self.execute(sql, parameters).fetchone()

    def fetchall(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return self.execute(sql, parameters).fetchall()

    def fetchvalue(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.execute(sql, parameters).fetchone()
        return None if row is None else row[0]
