"""Inserting rows into the PostgreSQL log, under the write lock and in a savepoint
(the session's ``_insert`` handles errors and interrupts around these), and sending
several statements in one round trip.

Round trips are what an append costs on a server, so statements that follow each other
with nothing to decide in between go together. For a few statements the simple query
protocol, with the values bound client-side by psycopg (``ClientCursor.mogrify``,
libpq's quoting), is the cheapest way: psycopg's pipeline mode costs more in Python
than a round trip saves on a local server.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ._backend import INSERT_COLUMNS, SAVEPOINT_BATCH

# ON CONFLICT (event_id) DO NOTHING: a retried event id returns no row instead of
# aborting the transaction, so an event whose version the trigger fills in needs no
# savepoint (nothing else about such a row can fail: the kernel validated it, and the
# trigger gives it the next position and version under the write lock). A row with a
# version of its own can still be refused by the trigger, so it keeps its savepoint.
_INSERT_ONE = (
    f"INSERT INTO events ({INSERT_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING id, version"
)
_INSERT_ONE_NUMBERED = _INSERT_ONE % tuple(f"${n}" for n in range(1, 12))  # for PREPARE
INSERT_PREPARABLE = (_INSERT_ONE, _INSERT_ONE_NUMBERED)
# One statement text for any batch size (so it is prepared once): the columns as arrays.
_INSERT_MANY = (
    f"INSERT INTO events ({INSERT_COLUMNS}) SELECT * FROM unnest("
    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::bigint[], %s::text[], %s::text[]) RETURNING id, version"
)
_VERSION, _EVENT_ID = 8, 9  # a row's version and event id, in INSERT_COLUMNS order
# Larger batches go by COPY, which psycopg feeds row by row in C (building the arrays
# above costs more than the server's work); the positions are given, and the trigger
# checks each is the next one.
COPY_FROM = 64
_COPY = f"COPY events (id, {INSERT_COLUMNS}) FROM STDIN"
# Every batch that goes by COPY is handed over streamed (``Registry.stream``): psycopg
# sends the rows every 32 KB, so the server stores them while Python prepares the next.
# Never below COPY_FROM: only ``copy_rows`` turns a bad event met while reading the rows
# into an aborted insert (``RowRefused``); the INSERT paths read them before sending.
STREAM_FROM = COPY_FROM


# Parameter types whose client-side literal means exactly what the bound value would.
_LITERAL_TYPES = (str, int, type(None))


def bindable(parameters: Any) -> bool:
    """Whether ``parameters`` (positional) can be bound client-side without a change of
    meaning: text, integers (not booleans, which the store dumps as 0/1) and NULL."""
    return isinstance(parameters, Sequence) and not isinstance(parameters, str) and all(
        type(value) in _LITERAL_TYPES for value in parameters
    )


class PreparedStatements:
    """Server-side prepared statements (SQL ``PREPARE``) of each pooled connection, by
    statement text: a simple query then runs ``EXECUTE name(values)``, which the server
    neither parses nor plans again (that is most of what a short statement costs it).
    A statement is prepared only while the connection is outside a transaction (a failed
    PREPARE then spoils nothing: the statement is just never prepared on it)."""

    LIMIT = 200  # per connection: dynamic SQL (IN lists) must not fill the server's memory

    def __init__(self) -> None:
        self._by_connection: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[str, str | None]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def name(self, conn: psycopg.Connection[Any], sql: str, numbered: str) -> str | None:
        """The name ``sql`` (``numbered``: with $1, $2... placeholders) is prepared under
        on ``conn``, preparing it now if the connection is idle; None: run it as text."""
        with self._lock:
            known = self._by_connection.setdefault(conn, {})
        if sql in known:
            return known[sql]
        if len(known) >= self.LIMIT or conn.info.transaction_status != TransactionStatus.IDLE:
            return None
        name = f"evstore_{len(known)}"
        try:
            conn.execute(f"PREPARE {name} AS {numbered}", prepare=False)
        except psycopg.OperationalError:
            raise
        except psycopg.Error:  # e.g. a parameter whose type only the bound value decides
            known[sql] = None
            return None
        known[sql] = name
        return name

    def forget(self, conn: psycopg.Connection[Any]) -> None:
        """The server dropped the connection's prepared statements: psycopg sends
        DEALLOCATE ALL after a ROLLBACK or a DROP once it has prepared its own."""
        with self._lock:
            self._by_connection.pop(conn, None)


PREPARED = PreparedStatements()


def run_together(conn: psycopg.Connection[Any], before: Sequence[str], sql: str, parameters: Sequence[Any],
                 after: Sequence[str] = (), prepared: str | None = None) -> psycopg.Cursor[Any]:
    """``before``, then ``sql`` with ``parameters`` bound, then ``after``, in one round
    trip (simple query protocol); the cursor is on ``sql``'s result. A statement that
    fails skips the ones after it, and the error is raised. ``prepared``: the name
    ``sql`` is prepared under on ``conn``."""
    if prepared is not None:
        sql = f"EXECUTE {prepared}({','.join(['%s'] * len(parameters))})"
    bound = psycopg.ClientCursor(conn).mogrify(sql, parameters)
    cursor = conn.execute("; ".join((*before, bound, *after)), prepare=False)
    for _ in before:
        cursor.nextset()
    return cursor


class RowRefused(Exception):
    """Reading the next row of a streamed batch raised ``error`` (a bad event): the COPY
    was aborted, and the caller undoes what it sent by rolling back to the savepoint."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class EventIdTaken(Exception):
    """The single row's event id is stored already (its INSERT did nothing): for the
    kernel, the same as a unique violation on ``event_id``, without the aborted
    transaction."""


def needs_savepoint(rows: Sequence[tuple[Any, ...]]) -> bool:
    """Whether inserting ``rows`` can fail on the server for a reason the caller
    recovers from (a version of their own that is not the next, an event id of a batch
    that is taken), which then must undo only this insert: a single row whose version
    the trigger fills in cannot (see ``_INSERT_ONE``)."""
    return len(rows) != 1 or rows[0][_VERSION] is not None


def insert_returning(
    conn: psycopg.Connection[Any], begin: tuple[str, ...], rows: Sequence[tuple[Any, ...]],
    cursor: psycopg.Cursor[Any] | None = None,
) -> tuple[int, list[int]]:
    """Insert the rows; returns the first position and each row's version (the trigger
    fills in a version left as None). Raises ``EventIdTaken`` when a single row's event
    id is stored already. ``cursor``: insert a single row that ``needs_savepoint`` not
    without one, on this cursor of ``conn``'s (None: in a savepoint, like the others)."""
    if cursor is not None and not needs_savepoint(rows):
        found = _insert_one(conn, begin, rows[0], cursor).fetchone()
        if found is None:  # ON CONFLICT DO NOTHING skipped it
            raise EventIdTaken(rows[0][_EVENT_ID])
        return found[0], [found[1]]
    if len(rows) == 1 and bindable(rows[0]):
        savepoint = (*begin, f"SAVEPOINT {SAVEPOINT_BATCH}")
        release = (f"RELEASE SAVEPOINT {SAVEPOINT_BATCH}",)
        prepared = PREPARED.name(conn, _INSERT_ONE, _INSERT_ONE_NUMBERED)
        try:
            cursor = run_together(conn, savepoint, _INSERT_ONE, rows[0], release, prepared)
        except psycopg.errors.InvalidSqlStatementName:
            if prepared is None:
                raise
            PREPARED.forget(conn)  # deallocated under us: undo the savepoint, insert as text
            conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT_BATCH}; RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
            cursor = run_together(conn, savepoint, _INSERT_ONE, rows[0], release)
    else:
        sql, parameters = _INSERT_MANY, tuple(map(list, zip(*rows, strict=True)))
        with conn.pipeline():
            for statement in begin:
                conn.execute(statement, prepare=False)
            conn.execute(f"SAVEPOINT {SAVEPOINT_BATCH}")
            cursor = conn.execute(sql, parameters)
            conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
    returned = cursor.fetchall()
    if not returned:  # ON CONFLICT DO NOTHING skipped it (a row with a version of its own)
        raise EventIdTaken(rows[0][_EVENT_ID])
    positions = [row[0] for row in returned]
    first = positions[0]
    assert positions == list(range(first, first + len(rows))), positions
    return int(first), [int(row[1]) for row in returned]


def _insert_one(
    conn: psycopg.Connection[Any], begin: tuple[str, ...], row: tuple[Any, ...], cursor: psycopg.Cursor[Any]
) -> psycopg.Cursor[Any]:
    """One row without a savepoint. As a transaction's first statement it rides with
    BEGIN and the lock (``run_first``); later in the transaction it goes by the extended
    protocol, prepared by psycopg: binding there costs less in Python than quoting the
    values into a simple query, and it is still one round trip. On a cursor kept for
    it, which saves building one per event."""
    if not begin:
        return cursor.execute(_INSERT_ONE, row, prepare=True)
    return run_first(conn, begin, _INSERT_ONE, _INSERT_ONE_NUMBERED, row)


def run_first(
    conn: psycopg.Connection[Any], begin: tuple[str, ...], sql: str, numbered: str, parameters: Any
) -> psycopg.Cursor[Any]:
    """A transaction's ``begin`` statements (not sent yet), then its first statement
    ``sql`` (``numbered``: with $1, $2... placeholders), in one round trip: a simple
    query running ``sql`` prepared when it can be, or, for values only the server may
    convert, a pipeline. The cursor is on ``sql``'s result."""
    if not bindable(parameters):
        with conn.pipeline():
            for statement in begin:
                conn.execute(statement, prepare=False)
            cursor = conn.execute(sql, parameters)
        return cursor
    prepared = PREPARED.name(conn, sql, numbered)
    try:
        return run_together(conn, begin, sql, parameters, (), prepared)
    except psycopg.errors.InvalidSqlStatementName:
        if prepared is None:
            raise
        # Deallocated under us (see PreparedStatements.forget); nothing ran in this
        # transaction before it, so start it again with the text.
        PREPARED.forget(conn)
        conn.execute("ROLLBACK")
        return run_together(conn, begin, sql, parameters)


def copy_rows(
    conn: psycopg.Connection[Any], begin: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> tuple[int, list[int]]:
    """COPY the rows at the positions after the head: we hold the write lock, so no
    one else can take them, and the trigger refuses any row whose id is not the next.
    Returns the first position and each row's version: COPY returns nothing, so the
    versions the trigger filled in are read back, in one query for the batch.

    ``rows`` may be streamed (made as they are read): an error making one aborts the
    COPY and is raised as ``RowRefused``, inside the savepoint, which the caller then
    rolls back to."""
    with conn.pipeline():
        for statement in begin:
            conn.execute(statement, prepare=False)
        conn.execute(f"SAVEPOINT {SAVEPOINT_BATCH}")
        cursor = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events")
    first = int(cursor.fetchone()[0]) + 1  # type: ignore[index]
    try:
        with conn.cursor().copy(_COPY) as copy:
            write = copy.write_row
            for position, row in enumerate(rows, first):
                write((position, *row))
    except psycopg.Error:
        raise
    except Exception as error:  # not the driver's: making a row failed
        raise RowRefused(error) from error
    versions = [row[_VERSION] for row in rows]
    if None in versions:
        versions = [found[0] for found in conn.execute(
            "SELECT version FROM events WHERE id >= %s ORDER BY id", (first,)
        ).fetchall()]
    conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
    return first, versions
