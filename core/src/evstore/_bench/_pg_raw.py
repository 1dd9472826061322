"""The PostgreSQL baseline: what a competent hand-written event log on psycopg must do.

It keeps the kernel's invariants with the kernel's own DDL (``kernel_ddl`` of
``_pg_schema``: the same ``events`` table, unique constraints and triggers, in a schema
of its own with its own advisory lock key) and the kernel's ordering: every write
transaction is ``BEGIN ISOLATION LEVEL READ COMMITTED`` and
``pg_advisory_xact_lock(key)`` in one round trip, and the trigger assigns the position
and the workflow's next version under that lock. Per event it generates a UUIDv7
``event_id``, ``json.dumps`` the payload and formats the timestamp as aware UTC
ISO-8601 with microseconds; ``synchronous_commit`` follows the durability as the
kernel's does. Bulk appends use ``COPY``. It does nothing else: no validation, no
idempotent retries, no expected-version checks, no projections, no savepoints.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .._envelope import COLUMNS, new_event_id
from .._errors import StoreConnectionError
from .._pg_schema import kernel_ddl
from .._pg_support import redact
from ._raw import RawReads, Spec

_INSERT = (
    "INSERT INTO events (workflow_id, event_type, role, step_id, payload, timestamp, event_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_COPY = "COPY events (workflow_id, event_type, role, step_id, payload, timestamp, event_id) FROM STDIN"


def _row(spec: Spec) -> tuple[Any, ...]:
    workflow_id, event_type, role, step_id, payload = spec
    return (
        workflow_id,
        event_type,
        role,
        step_id,
        json.dumps(payload),
        datetime.now(UTC).isoformat(timespec="microseconds"),
        new_event_id(),
    )


def lock_key(url: str, schema: str) -> int:
    """An advisory lock key for one schema, derived as the kernel derives its own."""
    digest = hashlib.sha256(f"evstore:{conninfo_to_dict(url).get('dbname')}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def probe(url: str) -> None:
    """Connect once, so a wrong --db is one clear error before anything is measured."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10):
            pass
    except psycopg.Error as error:
        raise StoreConnectionError(
            f"cannot connect to PostgreSQL at {redact(url)!r} (--db): {first_line(error)}. Check the URL and "
            "that the server is running and reachable."
        ) from None


class Schemas:
    """Schemas of one bench run (one random prefix), every one dropped by ``drop_all``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"evstore_bench_{secrets.token_hex(4)}"
        self.created: list[str] = []

    def name(self, suffix: str) -> str:
        schema = f"{self.prefix}_{suffix}"
        self.created.append(schema)
        return schema

    def drop(self, schema: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def drop_all(self) -> None:
        """Drop every schema of the run; if the server is gone, say which are left."""
        if not self.created:
            return
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                for schema in self.created:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.Error as error:
            raise StoreConnectionError(
                f"could not drop the bench's schemas on {redact(self.url)!r}: {first_line(error)}. Drop "
                f"what is left of them by hand: DROP SCHEMA IF EXISTS <name> CASCADE for {self.prefix}_*"
            ) from None


class RawPgLog(RawReads):
    """An event log written by hand on one psycopg connection, in its own schema."""

    READ_WORKFLOW = f"SELECT {COLUMNS} FROM events WHERE workflow_id = %s ORDER BY version"
    READ_ALL = f"SELECT {COLUMNS} FROM events ORDER BY id"

    def __init__(self, url: str, schema: str, durability: str, *, create: bool = True) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.key = lock_key(url, schema)
        try:
            if create:
                self.conn.execute(f'CREATE SCHEMA "{schema}"')
                self.conn.execute(f'SET search_path TO "{schema}"')
                for script in kernel_ddl(self.key):
                    self.conn.execute(script)
            self.conn.execute(f'SET search_path TO "{schema}"')
            self.conn.execute(f"SET synchronous_commit TO {'on' if durability == 'full' else 'off'}")
        except BaseException:
            self.conn.close()
            raise
        self._begin = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({self.key})"

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self.conn
        conn.execute(self._begin, prepare=False)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def append(self, spec: Spec) -> None:
        """One event in its own transaction."""
        with self._transaction() as conn:
            conn.execute(_INSERT, _row(spec))

    def append_each(self, specs: Iterable[Spec]) -> None:
        """Several events in one transaction, one INSERT (one round trip) each, as a
        caller appending events one by one inside a transaction does."""
        with self._transaction() as conn:
            execute = conn.execute
            for spec in specs:
                execute(_INSERT, _row(spec))

    def append_bulk(self, specs: Iterable[Spec]) -> None:
        """Many events in one transaction with ``COPY``: the fastest honest form."""
        with self._transaction() as conn, conn.cursor().copy(_COPY) as copy:
            for spec in specs:
                copy.write_row(_row(spec))
