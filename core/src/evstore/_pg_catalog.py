"""The PostgreSQL session's catalog queries: which tables, columns, indexes and
triggers a store's schema has (for the ownership guard, ``evstore schema`` and drops)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._backend import Cursor


class CatalogQueries:
    """Mixed into ``PostgresSession``: everything here reads ``pg_catalog``."""

    schema: str  # the store's schema

    if TYPE_CHECKING:  # the session's own, which runs the kernel's SQL

        def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor: ...

    def table_kind(self, name: str) -> str | None:
        found = self.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND lower(c.relname) = lower(?) AND c.relkind IN ('r', 'p', 'v', 'm')",
            (self.schema, name),
        ).fetchone()
        if found is None:
            return None
        return "view" if found[0] in ("v", "m") else "table"

    def drop(self, name: str, kind: str) -> None:
        self.execute(f'DROP {"VIEW" if kind == "view" else "TABLE"} "{name.lower()}"')

    def table_names(self) -> list[str]:
        return [
            str(row[0])
            for row in self.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = ? UNION "
                "SELECT viewname FROM pg_views WHERE schemaname = ? ORDER BY 1",
                (self.schema, self.schema),
            ).fetchall()
        ]

    def column_names(self, table: str) -> list[str]:
        return [
            str(row[0])
            for row in self.execute(
                # pg_catalog rather than information_schema: the same answer, without the
                # privilege checks over every relation that make the view ten times slower.
                "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ? "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (self.schema, table.lower()),
            ).fetchall()
        ]

    def schema_objects(self) -> list[tuple[str, str, str, str]]:
        schema = self.schema
        columns: dict[str, list[str]] = {}
        for table, column, kind, not_null, default in self.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
            (schema,),
        ).fetchall():
            columns.setdefault(str(table), []).append(
                f"{column} {kind}{' NOT NULL' if not_null else ''}{f' DEFAULT {default}' if default else ''}"
            )
        view_rows = self.execute("SELECT viewname FROM pg_views WHERE schemaname = ?", (schema,)).fetchall()
        views = {str(row[0]) for row in view_rows}
        found = [("view" if t in views else "table", t, t, ", ".join(cols)) for t, cols in columns.items()]
        found += [
            ("index", str(name), str(table), str(definition))
            for name, table, definition in self.execute(
                "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = ?", (schema,)
            ).fetchall()
        ]
        found += [
            ("trigger", str(name), str(table), str(definition))
            for name, table, definition in self.execute(
                "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ? AND NOT t.tgisinternal",
                (schema,),
            ).fetchall()
        ]
        return sorted(found)

    def _index_table(self, index: str) -> str | None:
        found = self.execute(
            "SELECT tablename FROM pg_indexes WHERE schemaname = ? AND indexname = ?", (self.schema, index)
        ).fetchone()
        return None if found is None else str(found[0])
