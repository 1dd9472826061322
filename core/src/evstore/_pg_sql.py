"""Running SQLite-flavoured SQL on PostgreSQL: placeholders and DDL type names.

Projection authors write one SQL text with ``?`` (or ``:name``) placeholders, in the
subset both databases share. On PostgreSQL each distinct text is translated once and
cached: placeholders become psycopg's ``%s`` / ``%(name)s`` (and ``$n`` for PostgreSQL's
own parser, which the ownership guard uses); in migrations, SQLite's type names become
their PostgreSQL equivalents with the same range (INTEGER is 64-bit in SQLite, so BIGINT;
REAL is an 8-byte float, so DOUBLE PRECISION), through PostgreSQL's parser (``pglast``):
the AST is changed and printed back, never patched as text.
"""

from __future__ import annotations

from typing import Any

import pglast
from pglast import ast
from pglast.stream import RawStream


class Translation:
    """One SQL text, ready for psycopg (``driver``, or ``source`` when it has no
    placeholders) and for pglast (``parseable``)."""

    __slots__ = ("count", "driver", "names", "parseable", "source")

    def __init__(self, source: str, driver: str, parseable: str, count: int, names: tuple[str, ...]) -> None:
        self.source = source
        self.driver = driver
        self.parseable = parseable
        self.count = count
        self.names = names


def translate(sql: str) -> Translation:
    """Replace ``?`` and ``:name`` placeholders outside literals, identifiers and
    comments, and double every ``%`` (psycopg reads ``%`` anywhere in the text, literals
    included, as the start of a placeholder)."""
    driver: list[str] = []
    parseable: list[str] = []
    names: list[str] = []
    count = 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        end = _skip_quoted(sql, i)
        if end > i:
            chunk = sql[i:end]
            driver.append(chunk.replace("%", "%%"))
            parseable.append(chunk)
            i = end
            continue
        if c == "?":
            count += 1
            driver.append("%s")
            parseable.append(f"${count}")
            i += 1
            continue
        if c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and (i == 0 or sql[i - 1] != ":"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            name = sql[i + 1:j]
            if name not in names:
                names.append(name)
            driver.append(f"%({name})s")
            parseable.append(f"${names.index(name) + 1}")
            i = j
            continue
        driver.append("%%" if c == "%" else c)
        parseable.append(c)
        i += 1
    return Translation(sql, "".join(driver), "".join(parseable), count, tuple(names))


def _skip_quoted(sql: str, i: int) -> int:
    """If a literal, quoted identifier or comment starts at ``i``, the index after it."""
    c = sql[i]
    if c in ("'", '"'):
        j = i + 1
        while j < len(sql):
            if sql[j] == c:
                if j + 1 < len(sql) and sql[j + 1] == c:  # '' or "" inside
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if sql.startswith("--", i):
        j = sql.find("\n", i)
        return len(sql) if j < 0 else j
    if sql.startswith("/*", i):
        j = sql.find("*/", i + 2)
        return len(sql) if j < 0 else j + 2
    if c == "$":
        j = i + 1
        while j < len(sql) and (sql[j].isalnum() or sql[j] == "_"):
            j += 1
        if j < len(sql) and sql[j] == "$" and not sql[i + 1:j].isdigit():
            tag = sql[i:j + 1]
            k = sql.find(tag, j + 1)
            return len(sql) if k < 0 else k + len(tag)
    return i


# SQLite type name (as PostgreSQL's parser reads it) -> the PostgreSQL type with the
# same range.
_TYPES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("pg_catalog", "int4"): ("pg_catalog", "int8"),
    ("pg_catalog", "int2"): ("pg_catalog", "int8"),
    ("pg_catalog", "float4"): ("pg_catalog", "float8"),
    ("pg_catalog", "bool"): ("pg_catalog", "int8"),  # SQLite booleans are integers 0/1
    ("pg_catalog", "json"): ("text",),  # payload text is kept byte for byte
    ("json",): ("text",),
    ("blob",): ("bytea",),
    ("datetime",): ("text",),
}


def map_ddl(statement: str) -> str:
    """``statement`` with SQLite type names mapped, if it defines columns; unchanged
    otherwise (and if PostgreSQL's parser cannot read it: running it says why)."""
    try:
        parsed = pglast.parse_sql(statement)
    except pglast.parser.ParseError:
        return statement
    changed = False
    for raw in parsed:
        for column in _column_definitions(raw.stmt):
            changed = _map_column(column) or changed
    return ";\n".join(RawStream()(raw) for raw in parsed) if changed else statement


def _column_definitions(statement: Any) -> list[ast.ColumnDef]:
    if isinstance(statement, ast.CreateStmt):
        return [e for e in statement.tableElts or () if isinstance(e, ast.ColumnDef)]
    if isinstance(statement, ast.AlterTableStmt):
        return [
            cmd.def_ for cmd in statement.cmds or ()
            if isinstance(cmd, ast.AlterTableCmd) and isinstance(cmd.def_, ast.ColumnDef)
        ]
    return []


def _map_column(column: ast.ColumnDef) -> bool:
    type_name = column.typeName
    if type_name is None:
        return False
    names = tuple(part.sval for part in type_name.names or ())
    mapped = _TYPES.get(tuple(name.lower() for name in names))
    if mapped is None:
        return False
    was_boolean = names == ("pg_catalog", "bool")
    type_name.names = tuple(ast.String(sval=part) for part in mapped)
    type_name.typmods = None
    if was_boolean:
        for constraint in column.constraints or ():
            if isinstance(constraint, ast.Constraint) and isinstance(constraint.raw_expr, ast.A_Const):
                value = constraint.raw_expr.val
                if isinstance(value, ast.Boolean):
                    constraint.raw_expr = ast.A_Const(val=ast.Integer(ival=1 if value.boolval else 0))
    return True


def split(script: str) -> list[str]:
    """Statements of a migration script, split by PostgreSQL's own lexer (so a ``;``
    inside a literal or a dollar-quoted body does not split)."""
    try:
        return [s for s in pglast.split(script, with_parser=False) if s.strip()]
    except pglast.parser.ParseError:
        # Not PostgreSQL syntax; hand it over whole and let the server say what is wrong.
        return [script]
