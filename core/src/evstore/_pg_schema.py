"""The PostgreSQL backend's kernel schema, and checking an existing one's version."""

from __future__ import annotations

from typing import Any

import psycopg

from ._errors import SchemaVersionError, StoreOpenError

SCHEMA_VERSION = 4
# Every insert, the kernel's and raw SQL's alike, takes the write lock (re-entrant within a
# transaction) and is checked the way SQLite's triggers check it: the next position, the
# workflow's next version (filled in when left out), JSON objects as payload and metadata.
# The next position and version are read as an index's newest row, not with MAX():
# PL/pgSQL caches its queries' plans, and one made while the table was small (a new store)
# scanned the whole table, or the whole workflow, on every insert ever after: one
# workflow of 40,000 events took 9.7 ms a single append (0.6 ms at 1,000). ORDER BY ...
# DESC LIMIT 1 is a backward index scan whatever the table's size (schema 4).
BEFORE_INSERT = """CREATE OR REPLACE FUNCTION evstore_events_before_insert() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    next_position BIGINT;
    next_version BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(%(lock)s);
    next_position := COALESCE((SELECT id FROM events ORDER BY id DESC LIMIT 1), 0) + 1;
    IF NEW.id IS NULL THEN
        NEW.id := next_position;
    ELSIF NEW.id <> next_position THEN
        RAISE EXCEPTION 'events.id must be the next position: leave id out and the store assigns it'
            USING ERRCODE = 'check_violation';
    END IF;
    next_version := COALESCE((
        SELECT version FROM events WHERE workflow_id = NEW.workflow_id ORDER BY version DESC LIMIT 1
    ), 0) + 1;
    IF NEW.version IS NULL THEN
        NEW.version := next_version;
    ELSIF NEW.version <> next_version THEN
        RAISE EXCEPTION 'events.version must be the next version of its workflow: leave version out'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_version_unique';
    END IF;
    IF json_typeof(NEW.payload::json) IS DISTINCT FROM 'object'
       OR json_typeof(NEW.metadata::json) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'events.payload and events.metadata must be JSON objects'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$body$;
"""
KERNEL_SCHEMA = """
CREATE TABLE events (
    -- The global position: max + 1 under the write lock (see evstore_events_before_insert),
    -- never a sequence, so position order is commit order.
    id BIGINT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    role TEXT,
    step_id TEXT,
    component_id TEXT,
    status TEXT,
    -- JSON text, not jsonb: jsonb reorders keys, and an event reads back byte for byte.
    payload TEXT NOT NULL DEFAULT '{}',
    timestamp TEXT NOT NULL DEFAULT (
        to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'
    ),
    version BIGINT NOT NULL,
    event_id TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    metadata TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT events_version_unique UNIQUE (workflow_id, version),
    CONSTRAINT events_event_id_unique UNIQUE (event_id)
);
""" + BEFORE_INSERT + """CREATE TRIGGER events_before_insert BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION evstore_events_before_insert();
-- The log is append-only: history is corrected by appending, never by rewriting.
CREATE FUNCTION evstore_events_are_permanent() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION 'events are immutable and permanent: append a correcting event instead'
        USING ERRCODE = 'restrict_violation';
END
$body$;
CREATE TRIGGER events_are_permanent BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION evstore_events_are_permanent();
CREATE TRIGGER events_are_not_truncated BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION evstore_events_are_permanent();

CREATE TABLE evstore_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE evstore_projections (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'failing')),
    error TEXT,
    failed_event BIGINT,
    updated_at TEXT NOT NULL,
    skipped BIGINT NOT NULL DEFAULT 0,
    last_skip TEXT
);
CREATE TABLE evstore_migrations (
    projection TEXT NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (projection, name)
);
CREATE TABLE evstore_tables (name TEXT PRIMARY KEY, projection TEXT NOT NULL);
"""
# Each entry upgrades the schema from the version before it (a new store is created with
# KERNEL_SCHEMA, recorded as version 2, the first the PostgreSQL backend had, and upgraded
# from there).
SCHEMA_UPGRADES: dict[int, str] = {
    3: """
CREATE TABLE evstore_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE TABLE evstore_subscriptions (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL DEFAULT 0,
    types TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
""",
    # The insert trigger of today (see BEFORE_INSERT); a new store has it already.
    4: BEFORE_INSERT,
}


def kernel_ddl(lock_key: int, after: int | None = None) -> list[str]:
    """The scripts that make a kernel schema of ``SCHEMA_VERSION`` with this write-lock
    key: the original schema (``after`` None) and every upgrade after version ``after``."""
    start = 2 if after is None else after
    scripts = [KERNEL_SCHEMA] if after is None else []
    scripts += [SCHEMA_UPGRADES[v] for v in range(start + 1, SCHEMA_VERSION + 1)]
    return [script.replace("%(lock)s", str(lock_key)) for script in scripts]


def table_names(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
    }


def check_schema_version(conn: psycopg.Connection[Any], schema: str, target: str) -> int:
    if "evstore_meta" not in table_names(conn, schema):
        raise StoreOpenError(f"{target!r} is not an evstore store (schema {schema!r} has no evstore_meta table)")
    found = conn.execute("SELECT value FROM evstore_meta WHERE key = 'schema_version'").fetchone()
    version = int(found[0]) if found else 0
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{target!r} was written by a newer evstore (schema {version}; this evstore knows up to "
            f"{SCHEMA_VERSION}). Upgrade evstore to open it."
        )
    return version
