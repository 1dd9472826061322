"""The SQLite backend: one file in WAL mode, the embedded default and the fastest path.

Everything SQLite-specific lives here and in ``_sqlite_guard`` (table ownership through
SQLite's authorizer): opening and configuring connections, the kernel schema and its
upgrades, taking the write lock, assigning positions, and what its errors mean.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._backend import INSERT_COLUMNS, SAVEPOINT_BATCH, Cursor, Scope, Session
from ._errors import (
    SchemaVersionError,
    StorageError,
    StoreBusyError,
    StoreOpenError,
    StoreReadOnlyError,
)
from ._sqlite_guard import Guard, refused, split_statements

DURABILITY_PRAGMAS = {"full": "FULL", "normal": "NORMAL"}
SCHEMA_VERSION = 3

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

# Each entry upgrades the schema from the version before it; a new store runs them all.
SCHEMA_UPGRADES: dict[int, str] = {
    2: """
-- Raw SQL may insert into events (the original supervisor's callers do), but only as the
-- kernel would: at the next position, at the workflow's next version, with JSON objects
-- as payload and metadata. Without these an explicit id leaves a gap that no catch-up
-- ever projects, an id of 2**63-1 makes SQLite pick random rowids (so position order
-- stops being commit order), and a NaN payload can never be exported again.
-- In a BEFORE INSERT trigger an id left out reads as -1, so the kernel's own inserts (which
-- leave it to SQLite: max + 1) skip the subquery; the AFTER trigger catches an explicit -1.
CREATE TRIGGER events_next_position BEFORE INSERT ON events
WHEN NEW.id <> -1 AND NEW.id <> 1 + COALESCE((SELECT MAX(id) FROM events), 0)
BEGIN SELECT RAISE(ABORT, 'events.id must be the next position: leave id out and the store assigns it'); END;
CREATE TRIGGER events_positive_position AFTER INSERT ON events WHEN NEW.id < 1
BEGIN SELECT RAISE(ABORT, 'events.id must be the next position: leave id out and the store assigns it'); END;
CREATE TRIGGER events_next_version AFTER INSERT ON events
WHEN NEW.version IS NOT NULL AND NEW.version <> 1 + COALESCE(
    (SELECT MAX(version) FROM events WHERE workflow_id = NEW.workflow_id AND version < NEW.version), 0)
BEGIN SELECT RAISE(ABORT, 'events.version must be the next version of its workflow: leave version out'); END;
-- One parse per column: json_valid, then the first character says whether it is an object.
CREATE TRIGGER events_json_objects BEFORE INSERT ON events
WHEN NOT (json_valid(NEW.payload) AND NEW.payload LIKE '{%')
  OR NOT (json_valid(NEW.metadata) AND NEW.metadata LIKE '{%')
BEGIN SELECT RAISE(ABORT, 'events.payload and events.metadata must be JSON objects (no NaN or Infinity)'); END;
-- Which projection owns which table, whether or not its plugin is loaded right now: a
-- disabled plugin's tables are not up for grabs.
CREATE TABLE evstore_tables (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    projection TEXT NOT NULL
);
-- Events a projection's handler could not use because their payload does not match the
-- declared model (stored by a permissive store, raw SQL or an import): skipped, counted,
-- never a reason to mark the projection failing.
ALTER TABLE evstore_projections ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evstore_projections ADD COLUMN last_skip TEXT;
""",
    3: """
-- Who applies each async projection or subscription now: one leader at a time, which
-- renews its lease while it works; a lease past its expiry may be taken over.
CREATE TABLE evstore_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires REAL NOT NULL
);
-- Durable consumers outside the store: each one's checkpoint (every event <= position
-- was delivered and acknowledged).
CREATE TABLE evstore_subscriptions (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL DEFAULT 0,
    types TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
""",
}

_BUSY_RETRIES = 8


class SqliteBackend:
    """A store in one SQLite file."""

    dialect = "sqlite"
    stream_from: int | None = None  # inserting is an in-process call: there is no server to keep busy

    def __init__(self, path: Path, *, durability: str, busy_timeout: float, read_only: bool) -> None:
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        self.read_only = read_only
        if not read_only:
            _check_writable(path)
        elif not path.exists():
            raise StoreOpenError(
                f"no database at {str(path)!r} to open read-only. Create it first (open it "
                "without read_only, or `evstore init`)."
            )

    @property
    def target(self) -> str:
        return str(self.path)

    @property
    def location(self) -> str:
        return str(self.path)

    def connect(self) -> SqliteSession:
        try:
            conn = self._open()
        except sqlite3.DatabaseError as error:
            raise open_error(self.path, error) from None
        return SqliteSession(conn, self)

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so Python's sqlite3 never opens
        # a DEFERRED transaction behind our back. check_same_thread=False only so that
        # close() and the garbage collector may close a connection from another thread
        # once its own thread is done with it (the store never shares one between threads).
        if self.read_only:
            conn = _open_read_only(self.path, self.busy_timeout)
        else:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False, cached_statements=512,
            )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if self.read_only:
                return conn
            conn.execute(f"PRAGMA synchronous = {DURABILITY_PRAGMAS[self.durability]}")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                # Only switch a file that is (or will be) ours: refusing another
                # application's database must leave it exactly as it was.
                _check_is_store(conn, self.path)
                # WAL: readers never block the writer and see a consistent snapshot.
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreOpenError(f"{str(self.path)!r}: SQLite refused WAL mode (got {mode!r})")
        except BaseException:
            conn.close()
            raise
        return conn

    def ensure_schema(self, session: Session) -> None:
        assert isinstance(session, SqliteSession)
        conn = session.conn
        try:
            if self.read_only:
                _check_schema_version(conn, self.path, _schema_version(conn))
                return
            session.begin_write()
            try:
                tables = _table_names(conn)
                if "evstore_meta" not in tables:
                    _check_is_store(conn, self.path)
                    for statement in split_statements(KERNEL_SCHEMA):
                        conn.execute(statement)
                    conn.execute("INSERT INTO evstore_meta (key, value) VALUES ('schema_version', '1')")
                version = _schema_version(conn)
                _check_schema_version(conn, self.path, version)
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in split_statements(SCHEMA_UPGRADES[target]):
                        conn.execute(statement)
                if version < SCHEMA_VERSION:
                    conn.execute(
                        "UPDATE evstore_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
                    )
                session.commit()
            finally:
                session.rollback()
        except sqlite3.DatabaseError as error:
            raise open_error(self.path, error) from None

    def storage_error(self, error: BaseException) -> Exception | None:
        if not isinstance(error, sqlite3.DatabaseError) or isinstance(error, sqlite3.IntegrityError):
            return None
        text = str(error)
        where = repr(str(self.path))
        if "disk is full" in text or "database or disk is full" in text:
            return StorageError(
                f"the disk holding {where} is full; nothing of this call was written. Free space "
                "and retry (the store is intact)."
            )
        if "malformed" in text or "not a database" in text or "disk I/O error" in text:
            return StorageError(
                f"{where} is damaged or unreadable ({text}). Check it with `sqlite3 {self.path} "
                "'PRAGMA integrity_check'`; restore it from a backup (`evstore backup`) or an export."
            )
        if "no such table: events" in text or "no such table: evstore_" in text:
            return StorageError(
                f"{where} lacks a kernel table ({text}): it was dropped outside evstore. Restore "
                "the store from a backup or an export; evstore never drops its own tables."
            )
        if "readonly database" in text:
            return StorageError(
                f"{where} cannot be written ({text}): check the file's permissions and the "
                "medium, or open the store read_only to read it."
            )
        return None

    def close(self) -> None:
        pass


class SqliteSession:
    """One thread's SQLite connection."""

    dialect = "sqlite"
    fills_versions = False  # its version lookup is an in-process call: the kernel does it
    refuses_stored_ids = False  # probing first is an in-process call too
    __slots__ = ("backend", "conn", "execute", "executemany", "guard")

    def __init__(self, conn: sqlite3.Connection, backend: SqliteBackend) -> None:
        self.conn = conn
        self.backend = backend
        # The kernel's own SQL goes straight to the driver: no translation, no wrapper.
        self.execute = conn.execute
        self.executemany = conn.executemany
        self.guard = Guard()
        conn.set_authorizer(self.guard)

    # --- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def begin_write(self, log_lock: bool = True) -> None:
        """``BEGIN IMMEDIATE`` (for any transaction: SQLite has one writer at a time): take the write lock up front.

        A DEFERRED transaction that reads and then writes must upgrade its lock, and in
        WAL mode an upgrade that finds another writer fails at once with SQLITE_BUSY (the
        busy handler cannot help, the snapshot is stale): that is the "database is
        locked" in the middle of a transaction we refuse to have. Waiting happens only
        here, in the busy handler (``busy_timeout``); should even that run out, we retry
        with jittered backoff before giving up with ``StoreBusyError``.
        """
        if self.backend.read_only:
            raise StoreReadOnlyError(
                f"the store at {str(self.backend.path)!r} was opened read-only; open it without "
                "read_only to write"
            )
        execute = self.conn.execute
        self.guard.scope = None
        if self.conn.in_transaction:
            # Left open by an interrupt that landed where no rollback could follow; the
            # kernel never nests BEGIN (nesting is savepoints), so it is stale: end it.
            execute("ROLLBACK")
        for attempt in range(_BUSY_RETRIES):
            try:
                execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise StoreBusyError(
            f"could not take the write lock of {str(self.backend.path)!r}: another process kept "
            f"it past the busy timeout ({self.backend.busy_timeout:g} s) {_BUSY_RETRIES} times. "
            "Look for a stuck writer, or open the store with a longer busy_timeout."
        )

    def begin_read(self) -> None:
        self.guard.scope = None
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")  # stale, as in begin_write
        self.conn.execute("BEGIN DEFERRED")  # WAL keeps a read transaction's snapshot stable

    # Transaction control is the kernel's own: each of these first drops whatever scope
    # is set, should an interrupt have landed inside a scope's __exit__ and left the
    # authorizer restricting the kernel (which would refuse its ROLLBACK).

    def commit(self) -> None:
        self.guard.scope = None
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.guard.scope = None
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def savepoint(self, name: str) -> None:
        self.guard.scope = None
        self.conn.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self.guard.scope = None
        self.conn.execute(f"RELEASE {name}")

    def rollback_to(self, name: str) -> None:
        self.guard.scope = None
        self.conn.execute(f"ROLLBACK TO {name}")
        self.conn.execute(f"RELEASE {name}")

    # --- the log ----------------------------------------------------------------------

    def insert_events(self, rows: Sequence[tuple[Any, ...]]) -> tuple[int, Sequence[int] | None]:
        """SQLite gives each new row max(rowid) + 1 (the log is never deleted from, the
        triggers refuse explicit ids, and we hold the write lock), so the rows of one
        executemany get consecutive positions ending at last_insert_rowid(). Reading them
        back this way avoids looking up the head before every transaction."""
        conn = self.conn
        if len(rows) == 1:
            last = conn.execute(_INSERT, rows[0]).lastrowid
        else:
            # A savepoint makes the batch all-or-nothing: executemany stops at a failing
            # row but keeps the rows before it.
            conn.execute(f"SAVEPOINT {SAVEPOINT_BATCH}")
            try:
                conn.executemany(_INSERT, rows)
            except BaseException:
                self.rollback_to(SAVEPOINT_BATCH)
                raise
            conn.execute(f"RELEASE {SAVEPOINT_BATCH}")
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        assert last is not None
        return int(last) - len(rows) + 1, None

    def head(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def change_marker(self) -> int | None:
        # PRAGMA data_version changes exactly when another connection has committed.
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def locked_projection_row(self, name: str) -> tuple[int, int, str] | None:
        # The write transaction already excludes every other writer.
        found = self.conn.execute(
            "SELECT version, position, status FROM evstore_projections WHERE name = ?", (name,)
        ).fetchone()
        return None if found is None else (int(found[0]), int(found[1]), str(found[2]))

    def try_session_lock(self, name: str) -> bool:
        return True  # leases (renewed in each batch's write transaction) decide alone

    def release_session_lock(self, name: str) -> None:
        pass

    def violated_constraint(self, error: BaseException) -> str | None:
        if not isinstance(error, sqlite3.IntegrityError):
            return None
        text = str(error)
        if "events.workflow_id, events.version" in text:
            return "version"
        if "events.event_id" in text:
            return "event_id"
        return None

    # --- schema -----------------------------------------------------------------------

    def table_kind(self, name: str) -> str | None:
        found = self.conn.execute(
            "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')",
            (name,),
        ).fetchone()
        return None if found is None else str(found[0])

    def drop(self, name: str, kind: str) -> None:
        self.conn.execute(f'DROP {"VIEW" if kind == "view" else "TABLE"} "{name}"')

    def table_names(self) -> list[str]:
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]

    def column_names(self, table: str) -> list[str]:
        quoted = '"' + table.replace('"', '""') + '"'
        return [row[1] for row in self.conn.execute(f"PRAGMA table_info({quoted})")]

    def schema_objects(self) -> list[tuple[str, str, str, str]]:
        return [
            (str(kind), str(name), str(table), str(sql))
            for kind, name, table, sql in self.conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name"
            )
        ]

    # --- scoped SQL -------------------------------------------------------------------

    def enter(self, scope: Scope) -> None:
        guard = self.guard
        guard.scope, guard.denied = scope, None

    def leave(self) -> None:
        self.guard.scope = None

    @property
    def active_scope(self) -> Scope | None:
        return self.guard.scope

    def run(self, scope: Scope, sql: str, parameters: Any) -> Cursor:
        # The authorizer runs when a statement is prepared, and sqlite3 caches prepared
        # statements by text: tagging the text with the owner keeps one owner's
        # statement from being reused for another.
        tagged = scope.cache.get(sql)
        if tagged is None:
            tagged = scope.cache[sql] = f"/* evstore:{scope.owner} */ {sql}"
        try:
            return self.conn.execute(tagged, parameters)
        except sqlite3.DatabaseError as error:
            raise refused(self.guard, scope, error) from None

    def run_many(self, scope: Scope, sql: str, rows: Iterable[Any]) -> Cursor:
        tagged = scope.cache.get(sql)
        if tagged is None:
            tagged = scope.cache[sql] = f"/* evstore:{scope.owner} */ {sql}"
        try:
            return self.conn.executemany(tagged, rows)
        except sqlite3.DatabaseError as error:
            raise refused(self.guard, scope, error) from None

    def split_script(self, script: str) -> list[str]:
        return split_statements(script)

    def limit_statements(self, seconds: float | None) -> None:
        if seconds is None:
            self.conn.set_progress_handler(None, 0)
            return
        deadline = time.monotonic() + seconds
        # Called every few thousand virtual-machine steps; a non-zero return interrupts
        # the statement ("interrupted").
        self.conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)

    @property
    def raw(self) -> sqlite3.Connection:
        return self.conn

    def close(self) -> None:
        self.conn.close()


_INSERT = f"INSERT INTO events ({INSERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"


def _check_writable(path: Path) -> None:
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
            "its -wal and -shm files beside it). Fix the permissions, choose another path, "
            "or open it read-only to read it."
        )


def _open_read_only(path: Path, busy_timeout: float) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None,
            check_same_thread=False, cached_statements=512,
        )
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError:
        # On read-only media SQLite cannot create the -shm file a WAL database needs;
        # nothing can write there either, so reading it as immutable is safe.
        return sqlite3.connect(
            f"{uri}&immutable=1", uri=True, timeout=busy_timeout, isolation_level=None,
            check_same_thread=False, cached_statements=512,
        )


def _table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _check_is_store(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that has tables but is not an evstore store."""
    tables = _table_names(conn)
    if "evstore_meta" not in tables and tables - {"sqlite_sequence"}:
        raise StoreOpenError(
            f"{str(path)!r} has tables ({', '.join(sorted(tables)[:5])}) but is not an evstore "
            "store. If it is another program's database, import it into a new store with the "
            "command of the plugin that reads it (`evstore --help` lists the installed commands); "
            "otherwise choose a new path."
        )


def _schema_version(conn: sqlite3.Connection) -> int:
    if "evstore_meta" not in _table_names(conn):
        return 0
    found = conn.execute("SELECT value FROM evstore_meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else 0


def _check_schema_version(conn: sqlite3.Connection, path: Path, version: int) -> None:
    if version == 0 and "evstore_meta" not in _table_names(conn):
        raise StoreOpenError(f"{str(path)!r} is not an evstore store (it has no evstore_meta table)")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{str(path)!r} was written by a newer evstore (schema {version}; this evstore "
            f"knows up to {SCHEMA_VERSION}). Upgrade evstore to open it."
        )


def open_error(path: Path, error: sqlite3.DatabaseError) -> StoreOpenError:
    text = str(error)
    if "not a database" in text or "malformed" in text:
        return StoreOpenError(
            f"{str(path)!r} is not a SQLite database (or is corrupt): {text}. Point the "
            "store at an evstore database, or at a path that does not exist yet."
        )
    return StoreOpenError(f"cannot open {str(path)!r}: {text}")
