"""Inserting rows into the PostgreSQL log, under the write lock and in a savepoint
(the session's ``_insert`` handles errors and interrupts around these)."""

from __future__ import annotations

from typing import Any

import psycopg

from ._backend import INSERT_COLUMNS, SAVEPOINT_BATCH

_INSERT_ONE = f"INSERT INTO events ({INSERT_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id"
# One statement text for any batch size (so it is prepared once): the columns as arrays.
_INSERT_MANY = (
    f"INSERT INTO events ({INSERT_COLUMNS}) SELECT * FROM unnest("
    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::bigint[], %s::text[], %s::text[]) RETURNING id"
)
# Larger batches go by COPY, which psycopg feeds row by row in C (building the arrays
# above costs more than the server's work); the positions are given, and the trigger
# checks each is the next one.
COPY_FROM = 64
_COPY = f"COPY events (id, {INSERT_COLUMNS}) FROM STDIN"


def insert_returning(conn: psycopg.Connection[Any], begin: tuple[str, ...], rows: list[tuple[Any, ...]]) -> int:
    if len(rows) == 1:
        sql, parameters = _INSERT_ONE, rows[0]
    else:
        sql, parameters = _INSERT_MANY, tuple(map(list, zip(*rows, strict=True)))
    with conn.pipeline():
        for statement in begin:
            conn.execute(statement, prepare=False)
        conn.execute(f"SAVEPOINT {SAVEPOINT_BATCH}")
        cursor = conn.execute(sql, parameters)
        conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
    positions = [row[0] for row in cursor.fetchall()]
    first = positions[0]
    assert positions == list(range(first, first + len(rows))), positions
    return int(first)

def copy_rows(conn: psycopg.Connection[Any], begin: tuple[str, ...], rows: list[tuple[Any, ...]]) -> int:
    """COPY the rows at the positions after the head: we hold the write lock, so no
    one else can take them, and the trigger refuses any row whose id is not the next."""
    with conn.pipeline():
        for statement in begin:
            conn.execute(statement, prepare=False)
        conn.execute(f"SAVEPOINT {SAVEPOINT_BATCH}")
        cursor = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events")
    first = int(cursor.fetchone()[0]) + 1  # type: ignore[index]
    with conn.cursor().copy(_COPY) as copy:
        for position, row in enumerate(rows, first):
            copy.write_row((position, *row))
    conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
    return first
