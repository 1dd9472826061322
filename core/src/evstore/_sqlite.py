"""SQLite specifics: opening connections, the kernel schema, taking the write lock.

Everything dialect-specific about the embedded backend lives here, so a second backend
(PostgreSQL) replaces this module's role without touching the log or the projector.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

from ._access import Guard, install_guard, split_statements
from ._errors import SchemaVersionError, StoreBusyError, StoreOpenError

SCHEMA_VERSION = 1
DURABILITY_PRAGMAS = {"full": "FULL", "normal": "NORMAL"}

KERNEL_SCHEMA = """
CREATE TABLE events (
    -- The global position. An INTEGER PRIMARY KEY is the rowid; positions are assigned
    -- inside the write lock, so position order is commit order.
    id INTEGER PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    role TEXT,
    step_id TEXT,
    component_id TEXT,
    status TEXT,
    payload JSON NOT NULL DEFAULT '{}',
    -- The defaults and the trigger below serve raw SQL written for the original
    -- supervisor (INSERT INTO events (workflow_id, event_type, payload) ...); the kernel
    -- always supplies every column itself.
    timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    version INTEGER,
    event_id TEXT NOT NULL DEFAULT (
        lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
        || substr(lower(hex(randomblob(2))), 2) || '-'
        || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
        || '-' || lower(hex(randomblob(6)))
    ),
    metadata JSON NOT NULL DEFAULT '{}',
    CONSTRAINT events_version_unique UNIQUE (workflow_id, version),
    CONSTRAINT events_event_id_unique UNIQUE (event_id)
);
-- A raw INSERT without a version gets the workflow's next one, in the same statement's
-- transaction (raw writers hold the write lock too, so versions stay gap-free).
CREATE TRIGGER events_raw_insert_version AFTER INSERT ON events WHEN NEW.version IS NULL
BEGIN
    UPDATE events SET version = (
        SELECT COALESCE(MAX(version), 0) + 1 FROM events WHERE workflow_id = NEW.workflow_id
    ) WHERE id = NEW.id;
END;
-- The log is append-only: history is corrected by appending, never by rewriting. (The
-- only update allowed is the one above, filling in a raw insert's version.)
CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events WHEN OLD.version IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'events are immutable: append a correcting event instead'); END;
CREATE TRIGGER events_are_permanent BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are permanent: append a correcting event instead'); END;

CREATE TABLE evstore_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE evstore_projections (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,   -- every event <= position is applied
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'failing')),
    error TEXT,
    failed_event INTEGER,
    updated_at TEXT NOT NULL
);
CREATE TABLE evstore_migrations (
    projection TEXT NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (projection, name)
);
"""

_BUSY_RETRIES = 8


def check_path(path: Path) -> None:
    if path.is_dir():
        raise StoreOpenError(
            f"database path {str(path)!r} is a directory; pass a file path such as "
            f"{str(path / 'store.db')!r}"
        )
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreOpenError(
            f"cannot create the folder {str(parent)!r} for the database: {error.strerror}. "
            "Choose a writable location."
        ) from None
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StoreOpenError(
            f"database path {str(path)!r} is not writable (SQLite also needs to create "
            "its -wal and -shm files beside it). Fix the permissions or choose another path."
        )


def connect(path: Path, *, durability: str, busy_timeout: float) -> tuple[sqlite3.Connection, Guard]:
    """One connection, configured. ``isolation_level=None``: we issue BEGIN ourselves,
    so Python's sqlite3 never opens a DEFERRED transaction behind our back.

    ``check_same_thread=False`` only so that ``EventStore.close()`` can close every
    thread's connection; the store hands each connection to its own thread alone
    (thread-local), so no connection is ever used by two threads at once.
    """
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=512,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute(f"PRAGMA synchronous = {DURABILITY_PRAGMAS[durability]}")
        # WAL: readers never block the writer and see a consistent snapshot.
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise _open_error(path, error) from None
    if str(mode).lower() != "wal":
        conn.close()
        raise StoreOpenError(f"{str(path)!r}: SQLite refused WAL mode (got {mode!r})")
    return conn, install_guard(conn)


def _open_error(path: Path, error: sqlite3.DatabaseError) -> StoreOpenError:
    text = str(error)
    if "not a database" in text or "malformed" in text:
        return StoreOpenError(
            f"{str(path)!r} is not a SQLite database (or is corrupt): {text}. Point the "
            "store at an evstore database, or at a path that does not exist yet."
        )
    return StoreOpenError(f"cannot open {str(path)!r}: {text}")


def ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the kernel tables in a new database, or check an existing one's schema."""
    try:
        with write_lock(conn):
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if "evstore_meta" not in tables:
                if tables - {"sqlite_sequence"}:
                    raise StoreOpenError(
                        f"{str(path)!r} has tables ({', '.join(sorted(tables)[:5])}) but is "
                        "not an evstore store. To bring an original supervisor database "
                        "over, use `evstore import-seed`; otherwise choose a new path."
                    )
                for statement in split_statements(KERNEL_SCHEMA):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO evstore_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                return
            found = conn.execute(
                "SELECT value FROM evstore_meta WHERE key = 'schema_version'"
            ).fetchone()
            version = int(found[0]) if found else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{str(path)!r} was written by a newer evstore (schema {version}; this "
                    f"evstore knows up to {SCHEMA_VERSION}). Upgrade evstore to open it."
                )
    except sqlite3.DatabaseError as error:
        raise _open_error(path, error) from None


class write_lock:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolling back on any error.

    IMMEDIATE takes the write lock up front. A DEFERRED transaction that reads and then
    writes must upgrade its lock, and in WAL mode an upgrade that finds another writer
    fails at once with SQLITE_BUSY (the busy handler cannot help, the snapshot is stale):
    that is the "database is locked" in the middle of a transaction we refuse to have.
    Waiting happens only here, in the busy handler (``busy_timeout``); should even that
    run out, we retry with jittered backoff before giving up with ``StoreBusyError``.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        begin(self.conn)
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            rollback(self.conn)


def begin(conn: sqlite3.Connection) -> None:
    for attempt in range(_BUSY_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise StoreBusyError(
        "could not take the database's write lock: another process kept it past the busy "
        f"timeout {_BUSY_RETRIES} times. Look for a stuck writer, or open the store with a "
        "longer busy_timeout."
    )


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
