"""Raw SQL written for the original: ``transaction()`` and ``_connect()`` connections.

Callers of the original ran SQL of their own, including
``INSERT INTO events (workflow_id, event_type, payload) VALUES (...)``. The kernel's
column defaults and its version trigger make such an insert a valid event, but the
kernel does not project it when it is written: its projections replay it at their next
catch-up. Two cases need the facade's help:

- Raw inserts alone (``_connect()``, or a ``transaction()`` block without facade writes):
  after the commit the facade catches the projections up, so the rows are there when the
  block ends, as they were in the original.
- Raw inserts in the same ``transaction()`` block as facade writes: when the kernel
  commits an append it records its projections as current up to the newest event,
  raw rows included, so a catch-up would never replay them (the rows would be silently
  missing). The facade therefore notes where raw rows appeared and, after the commit,
  rebuilds the projections that handle their event types. That is slow on a long log,
  but correct, and only happens when raw event inserts and facade writes share a block.

One case fails loudly instead: in one block, a facade write to a workflow, then a raw
insert into it, then another facade write to it. The kernel numbers the workflow's
events from what it appended earlier in the transaction, so the raw row takes the
version the second write needs; that write raises ``TransactionError`` (it wrote nothing,
the block stays usable).

Reactors never run for raw inserts (the kernel runs them for its own appends only): a
raw ``component_completed`` does not cascade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from evstore import EventStore, TransactionError

T = TypeVar("T")

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}


def newest_position(conn: sqlite3.Connection) -> int:
    # MAX of the rowid is a lookup at the end of the b-tree, not a scan.
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


class Block:
    """One outermost ``transaction()`` block on one thread: where raw event rows
    appeared between the facade's own writes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.known = newest_position(conn)
        self.raw_after: int | None = None  # raw rows start after this position
        self.facade_wrote = False

    def note_raw_rows(self) -> None:
        """Compare the log's end with where the facade left it."""
        newest = newest_position(self.conn)
        if newest > self.known and self.raw_after is None:
            self.raw_after = self.known
        self.known = newest

    def facade_write(self, write: Callable[[], T]) -> T:
        self.note_raw_rows()
        self.facade_wrote = True
        try:
            return write()
        except sqlite3.IntegrityError as error:
            if self.raw_after is None or "events.workflow_id, events.version" not in str(error):
                raise
            # The kernel numbers a workflow's events from what it appended earlier in the
            # transaction, so a raw row in between takes the number it means to use.
            raise TransactionError(
                "a raw INSERT INTO events earlier in this transaction() block took the version "
                f"this append needed ({error}). After a raw insert into a workflow the store "
                "cannot number more appends to that workflow in the same block: do the raw "
                "inserts after the facade calls for that workflow, or in a block of their own. "
                "The failed append wrote nothing; the block is still usable."
            ) from error
        finally:
            # The write's own events (and its reactors' follow-ups) are not raw.
            self.known = newest_position(self.conn)

    def rolled_back_to_savepoint(self) -> None:
        # A nested block undid its rows; positions may be handed out again.
        self.known = min(self.known, newest_position(self.conn))


def repair_projections(store: EventStore, block: Block) -> None:
    """After the block committed: bring the projections up to date with its raw rows."""
    if block.raw_after is None:
        return
    types = {
        row[0]
        for row in store.reader.fetchall(
            "SELECT DISTINCT event_type FROM events WHERE id > ?", (block.raw_after,)
        )
    }
    affected = sorted(
        name
        for name, registered in store.registry.projections.items()
        if registered.projection.handled_types & types
    )
    if not affected:
        return
    if block.facade_wrote:
        store.rebuild(affected)
    else:
        store.catch_up(affected)


@contextmanager
def plain_connection(path: Path, *, durability: str, busy_timeout: float) -> Iterator[sqlite3.Connection]:
    """A connection of its own, configured like the original's ``_connect()``: WAL,
    ``row_factory=sqlite3.Row``, foreign keys on, commit at the end of the block and
    rollback on error, closed afterwards. Writes take the write lock when they start
    (``BEGIN IMMEDIATE``), so a read-then-write block waits for other writers instead
    of failing with "database is locked" when its lock would have to be upgraded."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level="IMMEDIATE")
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # The store's durability: an acknowledged raw write survives what an append does.
        conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        conn.close()
