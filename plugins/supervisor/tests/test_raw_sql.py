"""Raw SQL written for the original: table and column names, ``_connect()`` and
``transaction()`` connections, and raw ``INSERT INTO events``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from evstore_supervisor import Database, Event, EventType

# The original's tables and columns (behaviour page, "Projection semantics").
ORIGINAL_TABLES = {
    "events": "id workflow_id event_type role step_id component_id status payload timestamp",
    "workflows": "id current_step status context created_at updated_at",
    "steps": "id workflow_id role status gates context output error created_at updated_at",
    "features": "id title description status created_at completed_at",
    "phases": "id feature_id title sequence status interfaces created_at",
    "components": "id phase_id title description files depends_on status assigned_role output error created_at",
    "checkpoints": "id workflow_id step_id git_sha context_snapshot status timestamp",
    "metrics": (
        "id timestamp role cli task_type workflow_id success duration_seconds retry_count token_usage "
        "error_category model_score"
    ),
    "graph_workflows": "id name definition version created_at updated_at",
    "graph_executions": "id workflow_id graph_id status started_at completed_at error",
    "node_executions": (
        "id execution_id node_id node_type status input_data output_data error version started_at completed_at"
    ),
    "execution_events": "id execution_id node_id node_type event_type status payload version timestamp",
    "loop_counters": "execution_id loop_key iteration_count",
}
SQLITE_ONLY = pytest.mark.evstore_backends("sqlite")
RAW_INSERT = "INSERT INTO events (workflow_id, event_type, payload) VALUES (?, ?, ?)"
RAW_STEP = "INSERT INTO events (workflow_id, event_type, step_id, role, payload) VALUES (?, 'step_started', ?, ?, '{}')"


def raw(db: Database, sql: str) -> str:
    """``sql`` for the driver connection ``transaction()`` yields: psycopg takes ``%s``
    where sqlite3 takes ``?``."""
    return sql if db.store.dialect == "sqlite" else sql.replace("?", "%s")


def driver_connection_class(db: Database) -> type:
    if db.store.dialect == "sqlite":
        return sqlite3.Connection
    import psycopg

    return psycopg.Connection


@pytest.mark.parametrize("table", sorted(ORIGINAL_TABLES))
def test_tables_keep_the_original_columns_in_order(db: Database, table: str) -> None:
    columns = db.store.reader.column_names(table)
    original = ORIGINAL_TABLES[table].split()
    assert [c for c in columns if c in original] == original


# SQLite only: the original's _connect() connection and its PRAGMAs are SQLite's.
@SQLITE_ONLY
def test_connect_yields_a_configured_connection_to_the_same_database(db: Database) -> None:
    db.create_feature("F1", "Login")
    with db._connect() as conn:
        assert isinstance(conn, sqlite3.Connection)
        assert conn.row_factory is sqlite3.Row
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        row = conn.execute("SELECT id, title, status FROM features").fetchone()
        assert (row["id"], row["title"], row["status"]) == ("F1", "Login", "planning")


def test_connect_commits_on_success(db: Database) -> None:
    with db._connect() as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('kept')")
    with db._connect() as conn:
        assert conn.execute("SELECT text FROM notes").fetchone()[0] == "kept"


def test_connect_rolls_back_on_error(db: Database) -> None:
    with db._connect() as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(RuntimeError), db._connect() as conn:
        conn.execute("INSERT INTO notes VALUES ('lost')")
        raise RuntimeError("abandon")
    with db._connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0


def test_raw_insert_through_connect_is_an_event_and_is_projected(db: Database) -> None:
    with db._connect() as conn:
        conn.execute(raw(db, RAW_INSERT), ("wf", "workflow_started", json.dumps({"initial_step": "plan"})))
        conn.execute(raw(db, RAW_STEP), ("wf", "plan", "planner"))
    events = db.get_events("wf")
    assert [(e.event_type, e.version) for e in events] == [
        (EventType.WORKFLOW_STARTED, 1), (EventType.STEP_STARTED, 2),
    ]
    assert events[0].timestamp.tzinfo is not None and events[0].event_id is not None
    step = db.get_step("plan")
    assert step is not None and (step.role, step.status) == ("planner", "in_progress")
    assert db.store.reader.fetchone("SELECT status, current_step FROM workflows WHERE id = 'wf'") == (
        "active", "plan",
    )


def test_raw_insert_of_an_unknown_type_reads_back(db: Database) -> None:
    with db._connect() as conn:
        conn.execute(raw(db, RAW_INSERT), ("wf", "future_event", "{}"))
    [event] = db.get_events("wf")
    assert event.event_type == "future_event"


def test_facade_calls_in_a_transaction_commit_together(db: Database) -> None:
    with db.transaction() as conn:
        assert isinstance(conn, driver_connection_class(db))
        db.create_feature("F1", "f")
        db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
        # Raw reads inside the block see the block's writes.
        assert conn.execute("SELECT id FROM features").fetchone()[0] == "F1"
    assert db.get_feature("F1") is not None and db.get_step("s") is not None


def test_a_failing_transaction_commits_nothing(db: Database) -> None:
    db.create_feature("F0", "kept")
    with pytest.raises(RuntimeError), db.transaction():
        db.create_feature("F1", "f")
        db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
        db.record_metric("r", "c", "wf", True, 1.0)
        raise RuntimeError("abandon")
    assert db.store.head() == 1
    assert db.get_feature("F1") is None and db.get_step("s") is None and db.get_metrics() == []


def test_nested_blocks_are_savepoints(db: Database) -> None:
    with db.transaction():
        db.create_feature("F1", "outer")
        with pytest.raises(RuntimeError), db.transaction():
            db.create_feature("F2", "inner")
            raise RuntimeError("undo the inner block only")
        db.create_feature("F3", "outer again")
    assert [f for f in ("F1", "F2", "F3") if db.get_feature(f) is not None] == ["F1", "F3"]


# SQLite only: sqlite3.Row is set on the sqlite3 connection; psycopg's is yielded as it is.
@SQLITE_ONLY
def test_the_row_factory_is_set_for_the_block_only(db: Database) -> None:
    with db.transaction() as conn:
        assert conn.row_factory is sqlite3.Row
        with db.transaction() as inner:
            assert inner is conn and inner.row_factory is sqlite3.Row
    assert conn.row_factory is None


def test_raw_insert_in_a_transaction_alone_is_projected_at_commit(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(raw(db, RAW_STEP), ("wf", "s", "r"))
    step = db.get_step("s")
    assert step is not None and step.status == "in_progress"


def test_raw_inserts_around_facade_writes_in_one_block_are_all_projected(
    db: Database, dump_tables: Callable[[Database], Any]
) -> None:
    with db.transaction() as conn:
        conn.execute(raw(db, RAW_STEP), ("wf", "raw-before", "r"))
        db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="facade", role="r"))
        conn.execute(raw(db, RAW_STEP), ("wf-raw", "raw-between", "r"))
        db.update_step("facade", "blocked")
        conn.execute(raw(db, RAW_STEP), ("wf", "raw-after", "r"))
    for step_id in ("raw-before", "facade", "raw-between", "raw-after"):
        assert db.get_step(step_id) is not None, step_id
    assert all(s.lag == 0 and s.status == "ok" for s in db.store.projection_status())
    # And the tables are what the log says: a rebuild changes nothing.
    before = dump_tables(db)
    db.rebuild_projections()
    assert dump_tables(db) == before


def test_a_raw_insert_between_two_appends_to_one_workflow_keeps_versions_gap_free(db: Database) -> None:
    with db.transaction() as conn:
        db.append_event(Event(workflow_id="wf", event_type="gate_passed"))
        conn.execute(raw(db, RAW_INSERT), ("wf", "gate_failed", "{}"))
        db.append_event(Event(workflow_id="wf", event_type="gate_skipped"))
    assert [e.event_type for e in db.get_events("wf")] == ["gate_passed", "gate_failed", "gate_skipped"]
    assert [e.version for e in db.get_events("wf")] == [1, 2, 3]


def test_every_facade_call_works_inside_a_block_with_row_factory_set(db: Database) -> None:
    """The kernel and the plugins' queries run on the block's connection, whose
    ``row_factory`` is ``sqlite3.Row`` there."""
    with db.transaction():
        db.append_event(Event(workflow_id="wf", event_type="workflow_started", payload={"initial_step": "s"}))
        db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
        db.update_step("s", "awaiting_approval")
        db.create_feature("F", "f")
        db.create_phase("P", "F", "p", 1)
        db.create_component("C", "P", "c")
        db.update_component("C", "completed", output={"ok": 1})
        db.create_checkpoint("wf", "s", "sha", {"k": 1})
        db.record_metric("r", "c", "wf", True, 1.0)
        db.append_execution_event("x", "tick")
        step = db.get_step("s")
        feature = db.get_feature("F")
        checkpoint = db.get_latest_checkpoint("wf")
        assert step is not None and step.status == "awaiting_approval"
        assert feature is not None and feature.status == "completed"  # the cascade ran in the block
        assert checkpoint is not None and checkpoint["context"] == {"k": 1}
        assert [e.event_type for e in db.get_events("wf")][:2] == ["workflow_started", "step_started"]
        assert len(db.get_metrics()) == 1 and len(db.get_execution_events("x")) == 1
        assert [c.id for c in db.get_components("F")] == ["C"]
    assert db.get_feature("F") is not None


def test_raw_writes_to_projection_tables_do_not_survive_a_rebuild(db: Database) -> None:
    """Documented: only events survive a rebuild, so raw UPDATEs of tables are lost."""
    db.create_feature("F1", "f")
    with db._connect() as conn:
        conn.execute("UPDATE features SET title = 'edited by hand' WHERE id = 'F1'")
    db.rebuild_projections()
    feature = db.get_feature("F1")
    assert feature is not None and feature.title == "f"
