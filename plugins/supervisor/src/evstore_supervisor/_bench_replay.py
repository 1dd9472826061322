"""The same-work raw side: hand-written ``sqlite3`` doing the writes the projections do.

Comparing a store with six projections against a raw log that stores events alone says
how much the projections cost, not how much evstore adds. This raw side does the same
durable work as the store, in the same transactions: the event rows, then exactly the
statements the projection handlers (and the reactors, which read) executed for them,
with the same parameters and in the same order, then one position per projection.

The statements are recorded once, before the clock starts: a store with the same
plugins is given the same appends, and its log is replayed through the projections'
own handlers (and the reactors') on a scratch ``sqlite3`` database with the same
tables, through a connection that writes down every statement it runs. The timed raw
side then executes that list: it pays for none of the Python that decided the
statements (the handlers' logic), so it is a floor a hand-written log could not beat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evstore import EventStore, RecordedEvent
from evstore.bench import Envelope, RawLog

# (sql, parameters, executemany?)
Statement = tuple[str, Any, bool]
_KERNEL_TABLE_PREFIX = "evstore_"


@dataclass
class Step:
    """One event of the log and the statements the projections and reactors ran for it."""

    envelope: Envelope
    statements: list[Statement] = field(default_factory=list)


class _Recorder:
    """What a handler or reactor gets instead of its ``ScopedConnection``: it runs each
    statement on the scratch database and writes it down."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.statements: list[Statement] = []

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        self.statements.append((sql, parameters, False))
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> sqlite3.Cursor:
        rows = list(seq_of_parameters)
        self.statements.append((sql, rows, True))
        return self._conn.executemany(sql, rows)

    def fetchone(self, sql: str, parameters: Any = ()) -> Any:
        return self.execute(sql, parameters).fetchone()

    def fetchall(self, sql: str, parameters: Any = ()) -> list[Any]:
        return self.execute(sql, parameters).fetchall()

    def fetchvalue(self, sql: str, parameters: Any = ()) -> Any:
        row = self.execute(sql, parameters).fetchone()
        return None if row is None else row[0]


def projection_schema(store: EventStore) -> list[str]:
    """The statements creating the projections' tables, indexes, triggers and views of
    ``store`` (not the kernel's), tables first."""
    objects = [
        (kind, definition)
        for kind, name, table, definition in store.reader.schema_objects()
        if definition and table != "events" and not table.startswith(_KERNEL_TABLE_PREFIX)
        and not name.startswith("sqlite_")
    ]
    return [definition for kind, definition in sorted(objects, key=lambda item: item[0] != "table")]


def inline_projections(store: EventStore) -> list[str]:
    registry = store.registry
    return sorted(name for name in registry.projections if name in registry.inline)


def record(store: EventStore, workdir: Path) -> list[Step]:
    """Every event of ``store``'s log with the statements its inline projections and
    reactors run for it, replayed in the kernel's order (projections by name, then the
    reactors) on a scratch database that is deleted afterwards."""
    path = workdir / "same-work-recorder.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in projection_schema(store):
            conn.execute(statement)
        conn.execute("BEGIN")
        steps = list(_record_all(store, conn))
        conn.execute("ROLLBACK")
        return steps
    finally:
        conn.close()
        path.unlink(missing_ok=True)


def _record_all(store: EventStore, conn: sqlite3.Connection) -> Iterator[Step]:
    registry = store.registry
    handlers: dict[str, list[Any]] = {}
    for name in inline_projections(store):
        for event_type, handler in registry.projections[name].projection.handlers.items():
            handlers.setdefault(event_type, []).append(handler)
    reactors: dict[str, list[Any]] = {}
    for reactor, _plugin in registry.reactors.values():
        for event_type in reactor.handles:
            reactors.setdefault(event_type, []).append(reactor)
    for event in store.iter_all():
        recorder = _Recorder(conn)
        for handler in handlers.get(event.event_type, ()):
            handler(recorder, event.copy())
        for reactor in reactors.get(event.event_type, ()):
            reactor.react(recorder, event.copy())
        yield Step(_envelope(event), recorder.statements)


def _envelope(event: RecordedEvent) -> Envelope:
    return (
        event.workflow_id, event.event_type, event.role, event.step_id, event.component_id, event.status,
        dict(event.payload),
    )


def transactions(steps: Sequence[Step], caller: Sequence[Envelope], size: int) -> list[list[Step]]:
    """``steps`` cut into the store's transactions: each holds ``size`` of the caller's
    events (matched in order against ``caller``) and the follow-ups that reactors
    appended after them."""
    cut: list[list[Step]] = []
    mine = 0
    for step in steps:
        if mine < len(caller) and step.envelope[:6] == caller[mine][:6]:
            if mine % size == 0:
                cut.append([])
            mine += 1
        if not cut:
            raise RuntimeError(f"the recorded log starts with an event the caller did not append: {step.envelope}")
        cut[-1].append(step)
    if mine != len(caller):
        raise RuntimeError(f"the recorded log holds {mine} of the caller's {len(caller)} events")
    return cut


class SameWorkLog:
    """The raw log plus the projections' tables and a position per projection, written
    by replaying recorded transactions."""

    def __init__(self, path: Path, durability: str, schema: Sequence[str], projections: Sequence[str]) -> None:
        self.raw = RawLog(path, durability)
        conn = self.raw.conn
        for statement in schema:
            conn.execute(statement)
        conn.execute("CREATE TABLE projection_positions (name TEXT PRIMARY KEY, position INTEGER NOT NULL)")
        conn.executemany("INSERT INTO projection_positions VALUES (?, 0)", [(name,) for name in projections])
        self.projections = list(projections)
        self.head = 0

    def close(self) -> None:
        self.raw.close()

    def replay(self, transaction: Sequence[Step]) -> None:
        """One transaction: its events, their statements, then every position."""
        raw = self.raw
        conn = raw.conn
        with raw.transaction():
            for step in transaction:
                raw.insert_envelope(step.envelope)
                for sql, parameters, many in step.statements:
                    if many:
                        conn.executemany(sql, parameters)
                    else:
                        conn.execute(sql, parameters).fetchall()
            self.head += len(transaction)
            conn.executemany(
                "UPDATE projection_positions SET position = ? WHERE name = ?",
                [(self.head, name) for name in self.projections],
            )

    def table(self, name: str) -> list[tuple[Any, ...]]:
        """Every row of a projection table, sorted (for checking the replay)."""
        return sorted(self.raw.conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
