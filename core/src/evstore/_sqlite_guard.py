"""Table ownership on SQLite, enforced by SQLite itself through its authorizer.

Every connection gets one authorizer for its lifetime. While a projection's handler or
migration runs (a :class:`~evstore._backend.Scope` is entered), the authorizer refuses any
write, DDL or transaction-control statement outside that projection's declared tables;
reactors and queries get no write access at all. This is what lets a third party's
projection run inside our append transaction without being able to corrupt the log,
another projection or the transaction itself (a ``COMMIT`` issued by a handler would make
half an append durable).
"""

from __future__ import annotations

import sqlite3

from ._access import access_error
from ._backend import Scope

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
_SCHEMA_CHANGES = {
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_DROP_VIEW,
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
    """The authorizer of one connection: who is running SQL right now."""

    __slots__ = ("denied", "denied_table", "scope")

    def __init__(self) -> None:
        self.scope: Scope | None = None  # None: the kernel itself, unrestricted
        self.denied: str | None = None
        self.denied_table: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        scope = self.scope
        if scope is None:
            return sqlite3.SQLITE_OK
        if action in _ALWAYS_DENIED:
            return self._deny(_ALWAYS_DENIED[action])
        if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and arg1 not in _READ_PRAGMAS:
            return self._deny(f"setting PRAGMA {arg1}")
        if action == sqlite3.SQLITE_FUNCTION and arg2 is not None and arg2.lower() == "load_extension":
            return self._deny("loading extensions")
        if action in _TABLE_IN_ARG1:
            table = arg1
        elif action in _TABLE_IN_ARG2:
            table = arg2
        else:
            return sqlite3.SQLITE_OK
        if table is None or table.lower() in _INTERNAL:
            return sqlite3.SQLITE_OK
        if action in _SCHEMA_CHANGES:
            if not scope.ddl:
                return self._deny("changing the schema outside a migration", table)
            if table.lower() not in scope.writable:
                return self._deny(f"changing table {table!r}", table)
            return sqlite3.SQLITE_OK
        if table.lower() in scope.writable:
            return sqlite3.SQLITE_OK
        return self._deny(f"writing table {table!r}", table)

    def _deny(self, what: str, table: str | None = None) -> int:
        self.denied, self.denied_table = what, table
        return sqlite3.SQLITE_DENY


def refused(guard: Guard, scope: Scope, error: sqlite3.DatabaseError) -> Exception:
    """The error to raise for a failed scoped statement: a ``ProjectionAccessError``
    saying what was refused if the authorizer refused it, else the driver's error."""
    denied, table = guard.denied, guard.denied_table
    if denied is None:
        return error
    guard.denied = guard.denied_table = None
    return access_error(scope, denied, table)


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
