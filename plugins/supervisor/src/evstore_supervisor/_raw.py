"""Raw SQL written for the original: the ``_connect()`` connection.

Callers of the original ran SQL of their own, including
``INSERT INTO events (workflow_id, event_type, payload) VALUES (...)``. The kernel's
column defaults and its version trigger make such an insert a valid event. Inside a
``transaction()`` block the kernel itself projects raw rows, in position order, before
its next append and at commit. A ``_connect()`` connection is not the kernel's, so after
its block commits the facade catches the projections up.

Reactors never run for raw inserts (the kernel runs them for its own appends only): a
raw ``component_completed`` does not cascade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}

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
