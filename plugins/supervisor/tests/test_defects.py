"""Defects 1-12 of the original (behaviour page, "Defects of the original that evstore
must not repeat"): one test (or a few) for each, named after it."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import evstore_graph
from evstore import (
    NO_STREAM,
    ConcurrencyError,
    EventType,
    InvalidEventError,
    Migration,
    Projection,
    RecordedEvent,
    ScopedConnection,
    hookimpl,
)
from evstore_supervisor import Database, Event, StepStatus
from evstore_supervisor import EventType as SupervisorEventType

OpenDatabase = Callable[..., Database]
DumpTables = Callable[[Database], dict[str, list[tuple[Any, ...]]]]
UTC_MICROSECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


class FailingProjection:
    """A third-party projection whose handler fails on every step_started."""

    evstore_plugin_name = "failing"

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        projection = Projection(
            "failing", tables=("failing_rows",),
            migrations=(Migration("0001", "CREATE TABLE failing_rows (id INTEGER)"),),
        )

        @projection.on("step_started")
        def _fail(db: ScopedConnection, event: RecordedEvent) -> None:
            db.execute("INSERT INTO failing_rows VALUES (?)", (event.id,))
            raise RuntimeError("this projection is broken")

        register(projection)


class ExtraEventTypes:
    evstore_plugin_name = "extra"

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("deploy_finished"))


def build_plan(db: Database, components: int = 2) -> None:
    db.create_feature("F1", "Login")
    db.create_phase("P1", "F1", "Backend", 1)
    for n in range(1, components + 1):
        db.create_component(f"C{n}", "P1", f"component {n}")


# --- 1: one transaction; a failing projection is recorded, not printed ------------------


def test_defect_01_a_failing_projection_is_marked_not_silently_drifting(open_database: OpenDatabase) -> None:
    db = open_database(plugins=[FailingProjection()])
    position = db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
    # The event and the healthy projections committed together...
    assert db.get_events("wf")[0].id == position
    assert db.get_step("s") is not None
    # ...the failing one rolled back its own rows and says where and why it stopped.
    assert db.store.reader.fetchvalue("SELECT COUNT(*) FROM failing_rows") == 0
    status = {s.name: s for s in db.store.projection_status()}
    assert (status["failing"].status, status["failing"].position) == ("failing", position - 1)
    assert "this projection is broken" in (status["failing"].error or "")
    assert status["steps"].status == "ok"


def test_defect_01_an_event_and_its_projection_updates_are_one_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
        assert db.get_step("s") is not None
        raise RuntimeError("crash before commit")
    assert db.store.head() == 0 and db.get_step("s") is None


# --- 2: the update_* methods are events --------------------------------------------------


def test_defect_02_updates_are_events_and_survive_a_rebuild(db: Database, dump_tables: DumpTables) -> None:
    db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
    build_plan(db)
    db.create_phase("P2", "F1", "Frontend", 2)
    db.update_step("s", StepStatus.BLOCKED, error="waiting")
    db.update_component("C1", "testing", output={"n": 1})
    db.update_component_dependencies("C2", ["C1"])
    db.update_phase_status("P2", "in_progress")
    db.update_feature_status("F1", "review")
    head = db.store.head()
    before = dump_tables(db)
    db.rebuild_projections()
    assert dump_tables(db) == before
    step, component, phase = db.get_step("s"), db.get_component("C2"), db.get_phase("P2")
    feature = db.get_feature("F1")
    assert step is not None and (step.status, step.error) == ("blocked", "waiting")
    assert component is not None and component.depends_on == ["C1"]
    assert phase is not None and phase.status == "in_progress"
    assert feature is not None and feature.status == "review"
    kinds = [e.event_type for e in db.get_events("F1")] + [e.event_type for e in db.get_events("wf")]
    for kind in ("step_status_changed", "component_status_changed", "component_dependencies_set",
                 "phase_status_changed", "feature_status_changed"):
        assert kind in kinds
    assert db.store.head() == head  # the rebuild appended nothing


# --- 3: the cascade is in the log ---------------------------------------------------------


def test_defect_03_the_cascade_logs_phase_and_feature_completion(db: Database, dump_tables: DumpTables) -> None:
    build_plan(db)
    db.update_component("C1", "completed")
    db.append_event(Event(workflow_id="F1", event_type="component_completed", component_id="C2",
                          payload={"output": {"ok": True}}))
    kinds = [e.event_type for e in db.get_events("F1")]
    assert kinds[-2:] == ["phase_completed", "feature_completed"]
    feature = db.get_feature("F1")
    assert feature is not None and feature.status == "completed" and feature.completed_at is not None
    before = dump_tables(db)
    db.rebuild_projections()
    assert dump_tables(db) == before


def test_defect_03_the_cascade_logs_failure_too(db: Database) -> None:
    build_plan(db)
    db.update_component("C1", "completed")
    db.update_component("C2", "failed", error="boom")
    assert [e.event_type for e in db.get_events("F1")][-2:] == ["phase_failed", "feature_failed"]


# --- 4: rebuild with checkpoints, of every table, deterministic ---------------------------


def test_defect_04_rebuild_with_checkpoints_is_deterministic(db: Database, dump_tables: DumpTables) -> None:
    db.append_event(Event(workflow_id="wf", event_type="workflow_started", payload={"initial_step": "s"}))
    db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
    db.create_checkpoint("wf", "s", "abc", {"files": ["a.py"]})
    db.record_metric("r", "claude", "wf", True, 2.0)
    build_plan(db)
    db.append_execution_event("x1", "node_started", node_id="n1")
    engine = evstore_graph.GraphEngine(db.store)
    engine.save_graph("g", "graph", {"nodes": [{"id": "a"}, {"id": "b"}],
                                     "edges": [{"source": "a", "target": "b"}]})
    engine.start_execution("x2", "g", workflow_id="wf")
    before = dump_tables(db)
    assert all(before[table] for table in ("checkpoints", "metrics", "graph_executions", "node_executions",
                                           "execution_events", "workflows", "steps", "components"))
    time.sleep(0.01)  # rows must come from the events, not from the clock
    db.rebuild_projections()
    first = dump_tables(db)
    db.rebuild_projections()
    assert first == before and dump_tables(db) == before


# --- 5: nothing is dropped silently -------------------------------------------------------


def test_defect_05_a_step_without_workflow_started_is_kept(db: Database) -> None:
    db.append_event(Event(workflow_id="never-started", event_type="step_started", step_id="s", role="r"))
    step = db.get_step("s")
    assert step is not None and step.workflow_id == "never-started"


def test_defect_05_a_checkpoint_without_workflow_started_is_kept(db: Database) -> None:
    checkpoint_id = db.create_checkpoint("never-started", "s", "abc", {})
    latest = db.get_latest_checkpoint("never-started")
    assert latest is not None and latest["id"] == checkpoint_id


def test_defect_05_a_step_without_a_role_is_stored_and_gets_its_row(db: Database) -> None:
    """The original stored the event and dropped the step (role NOT NULL); the facade
    stores it too, and the step has its row, with no role."""
    position = db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s"))
    assert db.store.head() == position
    step = db.get_step("s")
    assert step is not None and step.role is None and step.status is StepStatus.IN_PROGRESS
    assert all(status.status == "ok" for status in db.store.projection_status())


# --- 6: step_applying reads back ----------------------------------------------------------


def test_defect_06_step_applying_is_a_readable_status(db: Database) -> None:
    db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
    db.append_event(Event(workflow_id="wf", event_type=SupervisorEventType.STEP_APPLYING, step_id="s"))
    step = db.get_step("s")
    assert step is not None and step.status is StepStatus.APPLYING


# --- 7: forward compatibility ---------------------------------------------------------------


def test_defect_07_get_events_reads_types_it_does_not_know(open_database: OpenDatabase) -> None:
    db = open_database(plugins=[ExtraEventTypes()])
    db.append_event(Event(workflow_id="wf", event_type="deploy_finished", payload={"env": "prod"}))
    with db._connect() as conn:  # written by a newer version, say
        conn.execute("INSERT INTO events (workflow_id, event_type, payload) VALUES ('wf', 'from_the_future', '{}')")
    events = db.get_events("wf")
    assert [e.event_type for e in events] == ["deploy_finished", "from_the_future"]
    assert [e.id for e in db.get_events("wf", ["from_the_future"])] == [2]


# --- 8: the latest checkpoint is the newest, even within one second -----------------------


def test_defect_08_latest_checkpoint_breaks_timestamp_ties_by_position(db: Database) -> None:
    same = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    for sha in ("first", "second", "third"):
        db.append_event(Event(workflow_id="wf", event_type="checkpoint_created", step_id="s", timestamp=same,
                              payload={"git_sha": sha, "context": {}}))
    latest = db.get_latest_checkpoint("wf")
    assert latest is not None and latest["git_sha"] == "third"


def test_defect_08_checkpoints_created_in_one_second_return_the_last(db: Database) -> None:
    ids = [db.create_checkpoint("wf", "s", f"sha-{n}", {"n": n}) for n in range(5)]
    latest = db.get_latest_checkpoint("wf")
    assert latest is not None and latest["id"] == ids[-1]


# --- 9: no SQL injection, one timestamp format ---------------------------------------------


@pytest.mark.parametrize(
    "days", ["30) OR 1=1 --", "1; DROP TABLE metrics", "x", None, True, [30], float("nan"), float("inf"), -1]
)
def test_defect_09_get_metrics_pastes_nothing_into_sql(db: Database, days: Any) -> None:
    """The original's SQL had a NULL window for such a value and answered no rows (or
    ran the injected SQL); the facade answers no rows and runs nothing."""
    db.record_metric("r", "c", "wf", True, 1.0)
    assert db.get_metrics(days=days) == []
    assert len(db.get_metrics(days=30)) == 1  # the table is intact


@pytest.mark.parametrize("days", ["30", " 7.5 ", 30, 0.5])
def test_defect_09_get_metrics_takes_days_as_a_number_or_its_text(db: Database, days: Any) -> None:
    db.record_metric("r", "c", "wf", True, 1.0)
    assert len(db.get_metrics(days=days)) == 1


def test_defect_09_every_stored_time_is_aware_utc_with_microseconds(db: Database) -> None:
    db.append_event(Event(workflow_id="wf", event_type="workflow_started"))
    db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
    db.create_checkpoint("wf", "s", "abc", {})
    db.record_metric("r", "c", "wf", True, 1.0)
    build_plan(db, components=1)
    db.update_component("C1", "completed")
    db.append_execution_event("x", "tick")
    with db._connect() as conn:
        conn.execute("INSERT INTO events (workflow_id, event_type, payload) VALUES ('wf', 'gate_passed', '{}')")
    columns = {
        "events": ["timestamp"], "workflows": ["created_at", "updated_at"], "steps": ["created_at", "updated_at"],
        "features": ["created_at", "completed_at"], "phases": ["created_at"], "components": ["created_at"],
        "checkpoints": ["timestamp"], "metrics": ["timestamp"], "execution_events": ["timestamp"],
    }
    for table, names in columns.items():
        for name in names:
            values = [row[0] for row in db.store.reader.fetchall(f"SELECT {name} FROM {table}")]
            assert values, f"{table}.{name} has no rows"
            for value in values:
                assert UTC_MICROSECONDS.match(value), f"{table}.{name} = {value!r}"


# --- 10: one connection, batches, grouping, expected versions, idempotent retries ----------


def test_defect_10_appends_reuse_the_stores_connection(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    db.append_event(Event(workflow_id="wf", event_type="gate_passed"))
    opened: list[object] = []
    connect = sqlite3.connect

    def counting_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(args)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    for _ in range(20):
        db.append_event(Event(workflow_id="wf", event_type="gate_passed"))
        db.get_events("wf")
    assert opened == []


def test_defect_10_a_batch_appends_all_or_nothing(db: Database) -> None:
    good = Event(workflow_id="wf", event_type="gate_passed")
    positions = db.append_events([good, Event(workflow_id="wf", event_type="gate_failed")])
    assert positions == [1, 2]
    with pytest.raises(InvalidEventError):
        db.append_events([good.model_copy(update={"event_id": None}),
                          Event(workflow_id="wf", event_type="step_status_changed")])  # no step_id
    assert db.store.head() == 2


def test_defect_10_transaction_groups_append_event_calls(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.append_event(Event(workflow_id="wf", event_type="gate_passed"))
        db.append_event(Event(workflow_id="wf", event_type="gate_failed"))
        raise RuntimeError("all or nothing")
    assert db.get_events("wf") == []
    with db.transaction():
        db.append_event(Event(workflow_id="wf", event_type="gate_passed"))
        db.append_event(Event(workflow_id="wf", event_type="gate_failed"))
    assert len(db.get_events("wf")) == 2


def test_defect_10_expected_version_detects_concurrent_writers(db: Database) -> None:
    db.append_event(Event(workflow_id="wf", event_type="workflow_started"), expected_version=NO_STREAM)
    with pytest.raises(ConcurrencyError):
        db.append_event(Event(workflow_id="wf", event_type="workflow_started"), expected_version=NO_STREAM)
    db.append_event(Event(workflow_id="wf", event_type="gate_passed"), expected_version=1)
    assert len(db.get_events("wf")) == 2


def test_defect_10_a_retried_append_is_not_duplicated(db: Database) -> None:
    event = Event(workflow_id="wf", event_type="gate_passed", event_id="0190a5c4-7a1b-7c3d-8e4f-123456789abc")
    first = db.append_event(event)
    assert db.append_event(event) == first  # e.g. resent after a lost acknowledgement
    assert len(db.get_events("wf")) == 1


# --- 11: creation order, and create_* return ids -------------------------------------------


def test_defect_11_components_list_in_creation_order_not_text_order(db: Database) -> None:
    db.create_feature("F1", "f")
    db.create_phase("P1", "F1", "p", 1)
    for n in (1, 2, 10, 11, 3):
        db.create_component(f"C{n}", "P1", f"c{n}")
    assert [c.id for c in db.get_components("F1")] == ["C1", "C2", "C10", "C11", "C3"]
    assert [c.id for c in db.get_components_by_status("pending")] == ["C1", "C2", "C10", "C11", "C3"]


def test_defect_11_create_methods_return_the_event_id(db: Database) -> None:
    ids = [db.create_feature("F1", "f"), db.create_phase("P1", "F1", "p", 1), db.create_component("C1", "P1", "c")]
    assert ids == [e.id for e in db.get_events("F1")]


# --- 12: graph state is event-sourced ---------------------------------------------------


def test_defect_12_graph_executions_are_events_and_rebuild_exactly(db: Database, dump_tables: DumpTables) -> None:
    engine = evstore_graph.GraphEngine(db.store)
    engine.save_graph("g", "review loop", {
        "nodes": [{"id": "code"}, {"id": "review"}],
        "edges": [
            {"source": "code", "target": "review"},
            {"source": "review", "target": "code", "loop_key": "rework", "max_iterations": 2,
             "condition": {"key": "verdict", "equals": "rework"}},
        ],
    })
    engine.start_execution("x1", "g")
    for verdict in ("rework", "approve"):
        for node_id in ("code", "review"):
            [claimed] = engine.claim_ready_nodes("x1", worker_id="w")
            assert claimed.node_id == node_id
            engine.complete_node("x1", node_id, {"verdict": verdict} if node_id == "review" else {})
    assert engine.get_loop_count("x1", "rework") == 1
    execution = engine.get_execution("x1")
    assert execution is not None and execution.status == "completed"
    # Every transition is an event of the execution's stream, readable in order...
    kinds = [e.event_type for e in db.get_events("execution:x1")]
    assert kinds[0] == "execution_started" and kinds.count("loop_iterated") == 1
    # ...the UI can still poll execution_events by id...
    rows = db.get_execution_events("x1")
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert db.get_execution_events("x1", since_id=rows[-1]["id"]) == []
    # ...and the graph tables are a projection of the log.
    before = dump_tables(db)
    db.rebuild_projections()
    assert dump_tables(db) == before
