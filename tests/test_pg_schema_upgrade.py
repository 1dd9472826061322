"""PostgreSQL's kernel schema: a store written by an earlier release is upgraded in place
when opened, and keeps its log and its invariants."""

from __future__ import annotations

import psycopg
import pytest

from evstore import EventStore, NewEvent
from evstore._pg_schema import SCHEMA_VERSION
from evstore.testing import TargetFactory

pytestmark = pytest.mark.evstore_backends("postgresql")

# The insert trigger's function as schemas 2 and 3 had it (MAX() over the table and the
# workflow, which a cached plan may do by scanning them).
_SCHEMA_3_TRIGGER = """
CREATE OR REPLACE FUNCTION evstore_events_before_insert() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    next_position BIGINT;
    next_version BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(%(lock)s);
    SELECT COALESCE(MAX(id), 0) + 1 INTO next_position FROM events;
    IF NEW.id IS NULL THEN
        NEW.id := next_position;
    ELSIF NEW.id <> next_position THEN
        RAISE EXCEPTION 'events.id must be the next position: leave id out and the store assigns it'
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT COALESCE(MAX(version), 0) + 1 INTO next_version FROM events WHERE workflow_id = NEW.workflow_id;
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


def _trigger_source(conn: psycopg.Connection, schema: str) -> str:
    row = conn.execute(
        "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = 'evstore_events_before_insert'",
        (schema,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_schema_3_store_gets_the_index_friendly_trigger_and_keeps_its_log(
    evstore_target_factory: TargetFactory,
) -> None:
    url = evstore_target_factory()
    schema = evstore_target_factory.schema()
    with EventStore.open(url, autoload=False, permissive=True) as store:
        store.append_many([NewEvent(workflow_id="w", event_type="ticked") for _ in range(3)])
    # Put the store back as release 3 left it: schema 3, the trigger function of then.
    with psycopg.connect(evstore_target_factory.postgres_url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        lock = conn.execute(
            "SELECT substring(prosrc from 'pg_advisory_xact_lock\\((-?[0-9]+)\\)') FROM pg_proc "
            "WHERE proname = 'evstore_events_before_insert' AND pronamespace = %s::regnamespace",
            (schema,),
        ).fetchone()[0]
        conn.execute(_SCHEMA_3_TRIGGER.replace("%(lock)s", lock))
        conn.execute("UPDATE evstore_meta SET value = '3' WHERE key = 'schema_version'")
        assert "MAX(version)" in _trigger_source(conn, schema)

    with EventStore.open(url, autoload=False, permissive=True) as store:
        assert store.append(NewEvent(workflow_id="w", event_type="ticked")) == 4
        assert [(e.id, e.version) for e in store.read("w")] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    with psycopg.connect(evstore_target_factory.postgres_url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        version = conn.execute("SELECT value FROM evstore_meta WHERE key = 'schema_version'").fetchone()[0]
        assert int(version) == SCHEMA_VERSION == 4
        source = _trigger_source(conn, schema)
        assert "MAX(" not in source and "ORDER BY version DESC LIMIT 1" in source
        assert f"pg_advisory_xact_lock({lock})" in source  # the store's own lock, not a placeholder
        # raw SQL still gets the next position and version, and is refused a wrong one
        conn.execute("INSERT INTO events (workflow_id, event_type) VALUES ('w', 'raw')")
        assert conn.execute("SELECT id, version FROM events WHERE event_type = 'raw'").fetchone() == (5, 5)
        with pytest.raises(psycopg.errors.UniqueViolation, match="next version"):
            conn.execute("INSERT INTO events (workflow_id, event_type, version) VALUES ('w', 'raw', 9)")
        with pytest.raises(psycopg.errors.CheckViolation, match="next position"):
            conn.execute("INSERT INTO events (id, workflow_id, event_type) VALUES (99, 'x', 'raw')")
