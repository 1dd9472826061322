"""The baseline: what a competent hand-written event log on ``sqlite3`` must do.

It keeps the kernel's invariants with the kernel's own DDL for ``events`` (read from
``KERNEL_SCHEMA``, so the unique indexes and triggers can never drift apart), the same
journal mode (WAL), the same ``synchronous`` setting and ``BEGIN IMMEDIATE``
transactions. Per event it computes the workflow's next version inside the INSERT with
a subquery, generates a time-ordered (UUIDv7) ``event_id`` as the kernel does, ``json.dumps``
the payload and formats the
timestamp as aware UTC ISO-8601 with microseconds. It does nothing else: no validation,
no idempotent retries, no expected-version checks, no projections.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._envelope import COLUMNS, new_event_id
from .._sqlite import DURABILITY_PRAGMAS, KERNEL_SCHEMA, SCHEMA_UPGRADES
from .._sqlite_guard import split_statements

# What the benchmark appends: (workflow_id, event_type, role, step_id, payload).
Spec = tuple[str, str, str, str, dict[str, Any]]
# The whole envelope: (workflow_id, event_type, role, step_id, component_id, status, payload).
Envelope = tuple[str, str, str | None, str | None, str | None, str | None, dict[str, Any]]

_INSERT = (
    "INSERT INTO events (workflow_id, event_type, role, step_id, payload, timestamp, version, event_id) "
    "VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(version), 0) + 1 FROM events WHERE workflow_id = ?), ?)"
)
_INSERT_ENVELOPE = (
    "INSERT INTO events (workflow_id, event_type, role, step_id, component_id, status, payload, timestamp, "
    "version, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
    "(SELECT COALESCE(MAX(version), 0) + 1 FROM events WHERE workflow_id = ?), ?)"
)
PAYLOAD_COLUMN = COLUMNS.replace(" ", "").split(",").index("payload")  # in a row read with COLUMNS
_ABOUT_EVENTS = re.compile(r"\b(TABLE|ON)\s+events\b", re.IGNORECASE)


def events_ddl() -> list[str]:
    """The kernel's statements that create ``events`` and its indexes and triggers."""
    scripts = [KERNEL_SCHEMA, *(SCHEMA_UPGRADES[v] for v in sorted(SCHEMA_UPGRADES))]
    found = [s for script in scripts for s in split_statements(script) if _ABOUT_EVENTS.search(s)]
    if not any(s.upper().lstrip().startswith("CREATE TABLE") for s in found):
        raise RuntimeError("evstore._sqlite.KERNEL_SCHEMA has no CREATE TABLE events statement")
    return found


def _row(spec: Spec) -> tuple[Any, ...]:
    workflow_id, event_type, role, step_id, payload = spec
    return (
        workflow_id,
        event_type,
        role,
        step_id,
        json.dumps(payload),
        datetime.now(UTC).isoformat(timespec="microseconds"),
        workflow_id,
        new_event_id(),
    )


def _envelope_row(spec: Envelope) -> tuple[Any, ...]:
    workflow_id, event_type, role, step_id, component_id, status, payload = spec
    return (
        workflow_id,
        event_type,
        role,
        step_id,
        component_id,
        status,
        json.dumps(payload),
        datetime.now(UTC).isoformat(timespec="microseconds"),
        workflow_id,
        new_event_id(),
    )


class RawReads:
    """The reads both raw sides do alike, on a DB-API connection of their own; each
    side gives its driver's spelling of the two queries."""

    conn: Any
    READ_WORKFLOW: str  # one workflow's rows in version order, its id as the one parameter
    READ_ALL: str  # the whole log in position order

    def read_workflow(self, workflow_id: str) -> int:
        """Fetch one workflow's rows in version order and decode every payload."""
        rows = self.conn.execute(self.READ_WORKFLOW, (workflow_id,)).fetchall()
        payloads = [json.loads(row[PAYLOAD_COLUMN]) for row in rows]
        return len(payloads)

    def read_all(self) -> int:
        """Stream the whole log in position order, decoding every payload."""
        count = 0
        for row in self.conn.execute(self.READ_ALL):
            json.loads(row[PAYLOAD_COLUMN])
            count += 1
        return count


class RawLog(RawReads):
    """An event log written by hand on one ``sqlite3`` connection."""

    READ_WORKFLOW = f"SELECT {COLUMNS} FROM events WHERE workflow_id = ? ORDER BY version"
    READ_ALL = f"SELECT {COLUMNS} FROM events ORDER BY id"

    def __init__(self, path: Path, durability: str) -> None:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, as the kernel does.
        self.conn = sqlite3.connect(path, isolation_level=None, cached_statements=512)
        self.conn.execute(f"PRAGMA synchronous = {DURABILITY_PRAGMAS[durability]}")
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode for {path} (got {mode!r})")
        with self._transaction():
            for statement in events_ddl():
                self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()

    def _transaction(self) -> _Immediate:
        return _Immediate(self.conn)

    def transaction(self) -> _Immediate:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error), for a raw side that
        writes more than events in one transaction (``insert_envelope`` and its own SQL)."""
        return _Immediate(self.conn)

    def insert_envelope(self, spec: Envelope) -> None:
        """One event with every envelope column, inside the caller's ``transaction()``."""
        self.conn.execute(_INSERT_ENVELOPE, _envelope_row(spec))

    def append(self, spec: Spec) -> None:
        """One event in its own transaction."""
        with self._transaction():
            self.conn.execute(_INSERT, _row(spec))

    def append_each(self, specs: Iterable[Spec]) -> None:
        """Several events in one transaction, one INSERT call each (as a caller appending
        events one by one inside a transaction would)."""
        with self._transaction():
            execute = self.conn.execute
            for spec in specs:
                execute(_INSERT, _row(spec))

    def append_bulk(self, specs: Iterable[Spec]) -> None:
        """Many events in one transaction with ``executemany``: the fastest honest form."""
        with self._transaction():
            self.conn.executemany(_INSERT, map(_row, specs))

    def append_envelope(self, spec: Envelope) -> None:
        """One event with every envelope column, in its own transaction."""
        with self._transaction():
            self.conn.execute(_INSERT_ENVELOPE, _envelope_row(spec))

    def append_envelopes(self, specs: Iterable[Envelope]) -> None:
        """Several events with every envelope column in one transaction, one INSERT each."""
        with self._transaction():
            execute = self.conn.execute
            for spec in specs:
                execute(_INSERT_ENVELOPE, _envelope_row(spec))

    def append_envelopes_bulk(self, specs: Iterable[Envelope]) -> None:
        """Many events with every envelope column in one transaction, with ``executemany``."""
        with self._transaction():
            self.conn.executemany(_INSERT_ENVELOPE, map(_envelope_row, specs))

class _Immediate:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolling back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
