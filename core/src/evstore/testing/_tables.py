"""Reading tables whole, for comparing a projection's state before and after something.

Rows come back in a canonical order (every column, ascending, NULLs first), so two
snapshots of the same content compare equal however the rows were inserted and on
whichever backend, and a rebuild can be checked row for row against the incremental
result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .._access import ScopedConnection
from .._store import EventStore

Row = tuple[Any, ...]
Snapshot = dict[str, list[Row]]


Source = EventStore | ScopedConnection


def _conn(source: Source) -> ScopedConnection:
    # A store is read through its read-only connection for this thread, which inside
    # an open store.transaction() sees that transaction's writes.
    return source.reader if isinstance(source, EventStore) else source


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def columns_of(source: Source, table: str) -> list[str]:
    """The table's column names in declaration order (empty if it does not exist)."""
    return _conn(source).column_names(table)


def _sort_key(row: Row) -> tuple[Any, ...]:
    # Sorted in Python, not by the database: SQLite and PostgreSQL order NULLs and mixed
    # types differently, and snapshots from both backends must compare equal.
    return tuple(
        (0, 0) if value is None else (1, value) if isinstance(value, (int, float)) else (2, str(value))
        for value in row
    )


def table_rows(source: Source, table: str, columns: Sequence[str] | None = None) -> list[Row]:
    """Every row of ``table`` (or only ``columns``), in a canonical order (by every
    selected column, NULLs first), whatever the backend.

    ``source`` is a store (read through ``store.reader``) or a handler's scoped connection.
    """
    chosen = list(columns) if columns is not None else columns_of(source, table)
    if not chosen:
        raise AssertionError(f"table {table!r} does not exist (or has no columns)")
    selected = ", ".join(quote(c) for c in chosen)
    rows = [tuple(row) for row in _conn(source).fetchall(f"SELECT {selected} FROM {quote(table)}")]
    return sorted(rows, key=_sort_key)


def snapshot_tables(source: Source, tables: Iterable[str]) -> Snapshot:
    """``{table: table_rows(table)}`` for each table."""
    return {table: table_rows(source, table) for table in tables}


def projection_tables(store: EventStore, name: str) -> tuple[str, ...]:
    """The tables projection ``name`` declares, as loaded in ``store``."""
    if not store.has_projection(name):
        loaded = ", ".join(sorted(store.registry.projections)) or "none"
        raise AssertionError(f"no projection named {name!r} is loaded in this store (loaded: {loaded})")
    return tuple(store.registry.projections[name].projection.tables)


def all_tables(source: Source) -> list[str]:
    """Every table and view of the database, the kernel's included, sorted by name."""
    return _conn(source).table_names()


def schema_of(source: Source, tables: Iterable[str] | None = None) -> list[Row]:
    """``(kind, name, table, definition)`` of every schema object (or those of
    ``tables``: the tables themselves and their indexes and triggers), sorted. The
    definitions are the backend's own: compare schemas taken from one backend."""
    rows = _conn(source).schema_objects()
    if tables is None:
        return [tuple(row) for row in rows]
    wanted = {t.lower() for t in tables}
    return [tuple(row) for row in rows if str(row[2]).lower() in wanted]


def projection_position(store: EventStore, name: str) -> tuple[int, str]:
    """``(position, status)`` of projection ``name`` as recorded in the kernel's table."""
    for status in store.projection_status():
        if status.name == name:
            return status.position, status.status
    raise AssertionError(f"projection {name!r} has no row in evstore_projections")
