"""Every method of the original, called as its callers call it, returning what they
expect: types, keys and order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from evstore_supervisor import (
    Component,
    ComponentStatus,
    Database,
    Event,
    EventType,
    Feature,
    FeatureStatus,
    Interface,
    Phase,
    PhaseStatus,
    Step,
    StepStatus,
)

CHECKPOINT_KEYS = {"id", "workflow_id", "step_id", "git_sha", "context", "status", "timestamp"}
METRIC_KEYS = {
    "id", "timestamp", "role", "cli", "task_type", "workflow_id", "success", "duration_seconds",
    "retry_count", "token_usage", "error_category", "model_score",
}
EXECUTION_EVENT_KEYS = {
    "id", "execution_id", "node_id", "node_type", "event_type", "status", "payload", "version", "timestamp",
}


def test_database_creates_its_folder(tmp_path: Path) -> None:
    with Database(tmp_path / "deep" / "er" / "state.db", autoload=False) as db:
        assert db.db_path == tmp_path / "deep" / "er" / "state.db"
        assert db.db_path.exists()


def test_default_path_is_the_originals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Database(autoload=False) as db:
        assert (tmp_path / ".supervisor" / "state.db").exists()
        assert db.db_path == Path(".supervisor/state.db")


def test_durability_is_full_by_default(db: Database) -> None:
    assert db.store.durability == "full"


# SQLite only: how "full" durability reaches the file is a SQLite PRAGMA.
@pytest.mark.evstore_backends("sqlite")
def test_full_durability_is_sqlites_synchronous_full(db: Database) -> None:
    assert db.store.reader.fetchvalue("PRAGMA synchronous") == 2  # FULL


def test_append_event_returns_the_position_and_get_events_reads_back(db: Database) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = db.append_event(
        Event(workflow_id="wf", event_type=EventType.WORKFLOW_STARTED, payload={"initial_step": "plan"},
              timestamp=at)
    )
    second = db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="plan", role="planner"))
    db.append_event(Event(workflow_id="other", event_type="workflow_started"))
    assert (first, second) == (1, 2)
    events = db.get_events("wf")
    assert [e.id for e in events] == [1, 2]
    assert all(isinstance(e, Event) for e in events)
    assert events[0].event_type is EventType.WORKFLOW_STARTED
    assert events[0].payload == {"initial_step": "plan"}
    assert events[0].timestamp == at
    assert (events[1].step_id, events[1].role, events[1].version) == ("plan", "planner", 2)


def test_get_events_filters_by_type_in_order(db: Database) -> None:
    for event_type in ["workflow_started", "step_started", "gate_passed", "step_completed", "gate_failed"]:
        db.append_event(Event(workflow_id="wf", event_type=event_type, step_id="s", role="r"))
    gates = db.get_events("wf", [EventType.GATE_PASSED, "gate_failed"])
    assert [e.event_type for e in gates] == [EventType.GATE_PASSED, EventType.GATE_FAILED]
    assert db.get_events("wf", event_types=[EventType.STEP_STARTED])[0].id == 2
    assert db.get_events("wf", event_types=[]) == db.get_events("wf")  # the original filtered nothing
    assert db.get_events("nobody") == []


def test_steps(db: Database) -> None:
    db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="implementer",
                          payload={"gates": ["lint"], "context": {"k": 1}}))
    step = db.get_step("s")
    assert isinstance(step, Step)
    assert (step.id, step.workflow_id, step.role, step.status) == ("s", "wf", "implementer", StepStatus.IN_PROGRESS)
    assert (step.gates, step.context, step.output, step.error) == (["lint"], {"k": 1}, None, None)
    assert step.created_at.tzinfo is not None and step.updated_at >= step.created_at
    assert isinstance(db.update_step("s", StepStatus.COMPLETED, output={"ok": True}), int)
    step = db.get_step("s")
    assert step is not None and (step.status, step.output) == (StepStatus.COMPLETED, {"ok": True})
    assert db.get_step("missing") is None


def test_step_model_can_be_built_and_changed_like_the_originals() -> None:
    step = Step(id="s", workflow_id="wf", role="r")
    step.status = StepStatus.BLOCKED
    assert (step.gates, step.context, step.output, step.error) == ([], {}, None, None)


def test_features_phases_and_components(db: Database) -> None:
    feature_event = db.create_feature("F1", "Login", "users log in")
    phase_event = db.create_phase(
        "F1-P1", "F1", "Backend", 1, interfaces=[Interface(name="User", type="class", definition="class User")]
    )
    db.create_phase("F1-P0", "F1", "Design", 0, [{"name": "api", "type": "http", "definition": "GET /"}])
    component_event = db.create_component("F1-P1-C1", "F1-P1", "User model", files=["user.py"])
    db.create_component("F1-P0-C1", "F1-P0", "Sketch", depends_on=[], assigned_role="designer")
    assert all(isinstance(i, int) for i in (feature_event, phase_event, component_event))

    feature = db.get_feature("F1")
    assert isinstance(feature, Feature)
    assert (feature.title, feature.description, feature.status) == ("Login", "users log in", FeatureStatus.PLANNING)
    phase = db.get_phase("F1-P1")
    assert isinstance(phase, Phase) and phase.interfaces[0].name == "User"
    assert [p.id for p in db.get_phases("F1")] == ["F1-P0", "F1-P1"]  # by sequence
    component = db.get_component("F1-P1-C1")
    assert isinstance(component, Component)
    assert (component.files, component.assigned_role, component.status) == (
        ["user.py"], "implementer", ComponentStatus.PENDING,
    )
    assert [c.id for c in db.get_components("F1")] == ["F1-P0-C1", "F1-P1-C1"]  # by phase sequence
    assert [c.id for c in db.get_components_by_status(ComponentStatus.PENDING)] == ["F1-P1-C1", "F1-P0-C1"]
    assert db.get_components_by_status("completed") == []
    assert db.get_feature("nope") is None and db.get_phase("nope") is None and db.get_component("nope") is None

    db.update_component("F1-P1-C1", ComponentStatus.TESTING, output={"tests": 3})
    db.update_component_dependencies("F1-P1-C1", ["F1-P0-C1"])
    component = db.get_component("F1-P1-C1")
    assert component is not None
    assert (component.status, component.output, component.depends_on) == ("testing", {"tests": 3}, ["F1-P0-C1"])
    db.update_phase_status("F1-P0", PhaseStatus.IN_PROGRESS)
    db.update_feature_status("F1", FeatureStatus.REVIEW)
    phase = db.get_phase("F1-P0")
    feature = db.get_feature("F1")
    assert phase is not None and phase.status is PhaseStatus.IN_PROGRESS
    assert feature is not None and feature.status is FeatureStatus.REVIEW


def test_create_component_looks_the_feature_up_from_the_phase(db: Database) -> None:
    db.create_feature("F1", "f")
    db.create_phase("P1", "F1", "p", 1)
    position = db.create_component("C1", "P1", "c")
    [created] = db.get_events("F1", [EventType.COMPONENT_CREATED])
    assert (created.id, created.component_id, created.workflow_id) == (position, "C1", "F1")
    with pytest.raises(ValueError, match="phase 'P9' not found"):
        db.create_component("C2", "P9", "c")


def test_created_events_go_to_the_feature(db: Database) -> None:
    db.create_feature("F1", "f")
    db.create_phase("P1", "F1", "p", 1)
    db.create_component("C1", "P1", "c")
    assert [e.event_type for e in db.get_events("F1")] == [
        EventType.FEATURE_CREATED, EventType.PHASE_CREATED, EventType.COMPONENT_CREATED,
    ]


def test_checkpoints(db: Database) -> None:
    checkpoint_id = db.create_checkpoint("wf", "s1", "abc123", {"files": ["a.py"]})
    latest = db.get_latest_checkpoint("wf")
    assert latest is not None and set(latest) == CHECKPOINT_KEYS
    assert latest["id"] == checkpoint_id
    assert (latest["git_sha"], latest["context"], latest["status"]) == ("abc123", {"files": ["a.py"]}, "active")
    db.create_checkpoint("wf", "s2", "def456", {}, status="verified")
    latest = db.get_latest_checkpoint("wf")
    assert latest is not None and (latest["step_id"], latest["status"]) == ("s2", "verified")
    assert db.get_latest_checkpoint("other") is None


def test_metrics(db: Database) -> None:
    first = db.record_metric("implementer", "claude", "wf", True, 12.5)
    db.record_metric("reviewer", "codex", "wf", False, 3, task_type="review", retry_count=2,
                     token_usage=900, error_category="timeout")
    rows = db.get_metrics()
    assert [row["role"] for row in rows] == ["reviewer", "implementer"]  # newest first
    assert all(set(row) == METRIC_KEYS for row in rows)
    assert (rows[1]["id"], rows[1]["success"], rows[1]["task_type"]) == (first, 1, "other")
    assert (rows[0]["success"], rows[0]["retry_count"], rows[0]["token_usage"]) == (0, 2, 900)
    assert [r["cli"] for r in db.get_metrics(days=7, role="reviewer")] == ["codex"]
    assert [r["role"] for r in db.get_metrics(7, None, "claude")] == ["implementer"]
    assert db.get_metrics(days=0.5, cli="nobody") == []


def test_record_metric_accepts_success_as_0_or_1(db: Database) -> None:
    db.record_metric("r", "c", "wf", 1, 1.0)
    db.record_metric("r", "c", "wf", 0, 1.0)
    assert sorted(row["success"] for row in db.get_metrics()) == [0, 1]


def test_execution_events(db: Database) -> None:
    first = db.append_execution_event("x1", "node_started", node_id="n1", node_type="llm", status="running",
                                      payload={"attempt": 1}, version=3)
    second = db.append_execution_event("x1", "node_completed", "n1")
    db.append_execution_event("x2", "other")
    rows = db.get_execution_events("x1")
    assert [row["id"] for row in rows] == [first, second]
    assert all(set(row) == EXECUTION_EVENT_KEYS for row in rows)
    assert (rows[0]["payload"], rows[0]["version"], rows[0]["status"]) == ({"attempt": 1}, 3, "running")
    assert [row["id"] for row in db.get_execution_events("x1", since_id=first)] == [second]
    assert len(db.get_execution_events("x1", limit=1)) == 1


def test_rebuild_projections_replays_the_log(db: Database) -> None:
    db.create_feature("F1", "f")
    db.append_event(Event(workflow_id="wf", event_type="step_started", step_id="s", role="r"))
    assert db.rebuild_projections() == 2
    assert db.get_feature("F1") is not None and db.get_step("s") is not None
