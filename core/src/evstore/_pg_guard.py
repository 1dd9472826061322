"""Table ownership on PostgreSQL, decided by PostgreSQL's own parser.

PostgreSQL has no authorizer callback, so every statement a projection, reactor or query
runs is parsed once (``pglast``, the server's parser as a library) and its verdict cached
per scope and statement text: a scope may read anything, write (INSERT, UPDATE, DELETE,
MERGE, TRUNCATE) only its declared tables, change the schema only of its own tables and
only in a migration, and never control the transaction, change settings, take or release
locks, or call the handful of built-in functions that reach outside the statement
(``pg_advisory_unlock_all()`` would release the kernel's write lock mid-append). Data-
modifying CTEs and statements nested in EXPLAIN are found too, because the whole tree is
walked. What the guard cannot see into are functions the database's owner created: a
handler calling one runs it with the connection's rights.

Errors are the SQLite guard's (``access_error``), word for word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pglast
from pglast import ast
from pglast.enums import ObjectType
from pglast.visitors import Visitor

from ._access import access_error
from ._backend import Scope
from ._errors import ProjectionAccessError

_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_READS = (ast.SelectStmt, ast.VariableShowStmt, ast.ExplainStmt, *_WRITES, ast.TruncateStmt)
_SCHEMA_CHANGES = (
    ast.CreateStmt, ast.IndexStmt, ast.AlterTableStmt, ast.DropStmt, ast.ViewStmt,
    ast.CreateTableAsStmt, ast.RenameStmt,
)
_DENIED_KINDS: dict[type, str] = {
    ast.TransactionStmt: "transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT)",
    ast.VariableSetStmt: "changing settings (SET/RESET)",
    ast.LockStmt: "LOCK",
    ast.CopyStmt: "COPY",
    ast.DoStmt: "DO blocks",
    ast.CallStmt: "CALL",
    ast.CreateFunctionStmt: "creating functions",
    ast.CreateTrigStmt: "triggers",
}
_DENIED_FUNCTIONS = frozenset({
    "set_config", "setval", "nextval", "pg_notify", "query_to_xml", "query_to_xml_and_xmlschema",
    "query_to_xmlschema", "cursor_to_xml", "cursor_to_xmlschema", "pg_sleep", "pg_sleep_for",
    "pg_sleep_until", "pg_import_system_collations", "txid_current", "pg_current_xact_id",
})
_DENIED_PREFIXES = (
    "pg_advisory", "pg_try_advisory", "lo_", "dblink", "pg_read", "pg_ls_", "pg_stat_file", "pg_file",
    "pg_terminate", "pg_cancel", "pg_reload", "pg_rotate", "pg_create", "pg_drop", "pg_replication",
    "pg_logical", "pg_promote", "pg_switch", "pg_backup", "pg_start", "pg_stop", "pg_wal", "pg_log_",
)

IndexTable = Callable[[str], str | None]


class Denied(Exception):
    def __init__(self, what: str, table: str | None = None) -> None:
        super().__init__(what)
        self.what, self.table = what, table


def check(scope: Scope, parseable: str, schema: str, index_table: IndexTable) -> bool:
    """Raise ``ProjectionAccessError`` if ``scope`` may not run the statement; return
    whether the verdict may be cached (schema changes are decided afresh each time:
    they look the catalog up, and run once anyway)."""
    try:
        parsed = pglast.parse_sql(parseable)
    except pglast.parser.ParseError:
        return True  # not PostgreSQL: the server refuses it with its own message
    try:
        if len(parsed) != 1:
            raise Denied("several statements in one execute (use execute_script in a migration)")
        statement = parsed[0].stmt
        cacheable = _check_statement(scope, statement, schema, index_table)
        _Walk(scope, schema)(parsed[0])
        return cacheable
    except Denied as denied:
        raise access_error(scope, denied.what, denied.table) from None


def _check_statement(scope: Scope, statement: Any, schema: str, index_table: IndexTable) -> bool:
    kind = type(statement)
    if kind in _DENIED_KINDS:
        raise Denied(_DENIED_KINDS[kind])
    if isinstance(statement, ast.TruncateStmt):
        for relation in statement.relations or ():
            _writable(scope, relation, schema)
        return True
    if isinstance(statement, _READS):
        into: Any = statement.intoClause if isinstance(statement, ast.SelectStmt) else None
        if into is not None:
            _schema_change(scope, str(into.rel.relname), into.rel.schemaname, schema)
        return True
    if isinstance(statement, _SCHEMA_CHANGES):
        for table, table_schema in _changed_tables(statement, index_table):
            _schema_change(scope, table, table_schema, schema)
        return False
    raise Denied(f"{kind.__name__.removesuffix('Stmt')} statements")


def _changed_tables(statement: Any, index_table: IndexTable) -> list[tuple[str, str | None]]:
    relation: Any = None
    if isinstance(statement, (ast.CreateStmt, ast.IndexStmt, ast.AlterTableStmt, ast.RenameStmt)):
        relation = statement.relation
    elif isinstance(statement, ast.ViewStmt):
        relation = statement.view
    elif isinstance(statement, ast.CreateTableAsStmt):
        relation = statement.into.rel  # type: ignore[union-attr]
    if relation is not None:
        return [(str(relation.relname), relation.schemaname)]
    assert isinstance(statement, ast.DropStmt)
    tables: list[tuple[str, str | None]] = []
    for names in statement.objects or ():
        parts = [part.sval for part in names] if isinstance(names, tuple) else [names.sval]
        name, table_schema = parts[-1], (parts[-2] if len(parts) > 1 else None)
        if statement.removeType == ObjectType.OBJECT_INDEX:
            owner = index_table(name)
            if owner is None:
                if statement.missing_ok:
                    continue
                raise Denied(f"dropping index {name!r}, which is on no table of this store")
            name = owner
        elif statement.removeType not in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW):
            kind = str(getattr(statement.removeType, "name", statement.removeType)).removeprefix("OBJECT_").lower()
            raise Denied(f"dropping objects of kind {kind}")
        tables.append((name, table_schema))
    return tables


def _schema_change(scope: Scope, table: str, table_schema: str | None, schema: str) -> None:
    if not scope.ddl:
        raise Denied("changing the schema outside a migration", table)
    if (table_schema is not None and table_schema != schema) or table.lower() not in scope.writable:
        raise Denied(f"changing table {table!r}", table)


def _writable(scope: Scope, relation: Any, schema: str) -> None:
    table = str(relation.relname)
    if (relation.schemaname is not None and relation.schemaname != schema) or table.lower() not in scope.writable:
        raise Denied(f"writing table {table!r}", table)


class _Walk(Visitor):
    """Every node of the statement: writes nested anywhere, and denied functions."""

    def __init__(self, scope: Scope, schema: str) -> None:
        super().__init__()
        self.scope, self.schema = scope, schema

    def visit_InsertStmt(self, _ancestors: Any, node: Any) -> None:
        _writable(self.scope, node.relation, self.schema)

    visit_UpdateStmt = visit_DeleteStmt = visit_MergeStmt = visit_InsertStmt

    def visit_FuncCall(self, _ancestors: Any, node: Any) -> None:
        name = str(node.funcname[-1].sval).lower()
        if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            raise Denied(f"calling {name}()")


__all__ = ["ProjectionAccessError", "check"]
