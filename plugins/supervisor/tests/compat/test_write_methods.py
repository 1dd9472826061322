"""The original's write methods, with ordinary and odd arguments, on the original and
on the facade side by side: whatever the original accepted the facade accepts (an ``int``
where the original returned one; an ``int``, the event's id, or ``None`` where it
returned ``None``), and what the original's queries answer the facade answers too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from evstore_supervisor import Database

Call = Callable[[Any], Any]

CALLS: list[tuple[str, Call]] = [
    # The original's checkpoints need a workflows row (its defect 5); the facade's do not.
    ("workflow_started", lambda d: d.append_event(_event(d, "wf-1"))),
    ("another workflow_started", lambda d: d.append_event(_event(d, "wf-2"))),
    ("an execution's rows, for the original", lambda d: _original_execution(d, "x-1")),
    ("create_feature", lambda d: d.create_feature("F1", "Checkout")),
    ("create_feature without a title", lambda d: d.create_feature("F2", None)),
    ("create_phase", lambda d: d.create_phase("P1", "F1", "Backend", 1)),
    ("create_phase with interfaces", lambda d: d.create_phase(
        "P2", "F1", "Frontend", 2, [{"name": "api", "type": "http", "definition": "GET /"}])),
    ("create_phase with a text sequence", lambda d: d.create_phase("P3", "F1", "Docs", "third")),
    ("create_component", lambda d: d.create_component("C1", "P1", "API", files=["api.py"])),
    ("create_component with its feature", lambda d: d.create_component("C2", "P1", "DB", feature_id="F1")),
    ("create_component without a title", lambda d: d.create_component("C3", "P1", None)),
    ("update_component of an unknown id", lambda d: d.update_component("C404", _status(d, "component", "completed"))),
    ("update_feature_status of an unknown id",
     lambda d: d.update_feature_status("F404", _status(d, "feature", "review"))),
    ("update_phase_status of an unknown id", lambda d: d.update_phase_status("P404", _status(d, "phase", "failed"))),
    ("update_component_dependencies of an unknown id", lambda d: d.update_component_dependencies("C404", ["C1"])),
    ("update_step of an unknown id", lambda d: d.update_step("S404", _status(d, "step", "completed"))),
    ("update_feature_status", lambda d: d.update_feature_status("F1", _status(d, "feature", "in_progress"))),
    ("update_component_dependencies", lambda d: d.update_component_dependencies("C2", ["C1"])),
    ("update_component", lambda d: d.update_component("C1", _status(d, "component", "testing"))),
    ("create_checkpoint", lambda d: d.create_checkpoint("wf-1", "S1", "abc123", {"n": 1})),
    ("create_checkpoint without a step", lambda d: d.create_checkpoint("wf-1", None, "def456", {"n": 2})),
    ("create_checkpoint without a sha", lambda d: d.create_checkpoint("wf-2", "S1", None, {})),
    ("record_metric", lambda d: d.record_metric("implementer", "claude", "wf-1", True, 12.5)),
    ("record_metric with every argument", lambda d: d.record_metric(
        "reviewer", "codex", "wf-1", False, 3.0, "review", 2, 1500, "timeout")),
    ("append_execution_event", lambda d: d.append_execution_event("x-1", "node_started", "n1", "task")),
    ("append_execution_event with a payload", lambda d: d.append_execution_event(
        "x-1", "node_completed", "n1", "task", "completed", {"out": [1, 2]}, 3)),
]


def _original_execution(db: Any, execution_id: str) -> None:
    """The rows the original's execution_events reference (its foreign keys); the facade
    records execution events of any execution."""
    if isinstance(db, Database):
        return
    with db.transaction() as conn:
        conn.execute("INSERT INTO graph_workflows (id, name, definition) VALUES ('g', 'g', '{}')")
        conn.execute("INSERT INTO graph_executions (id, workflow_id, graph_id, status) "
                     "VALUES (?, 'wf-1', 'g', 'running')", (execution_id,))


def _event(db: Any, workflow_id: str) -> Any:
    module = _module(db, "state")
    return module.Event(workflow_id=workflow_id, event_type="workflow_started")


def _module(db: Any, original_name: str) -> Any:
    if isinstance(db, Database):
        import evstore_supervisor

        return evstore_supervisor
    import importlib

    return importlib.import_module(f"supervisor.core.{original_name}")


def _status(db: Any, kind: str, value: str) -> Any:
    """The status enum member of whichever module ``db`` comes from (the original's
    update methods read ``status.value``)."""
    module = _module(db, "models")
    enum = {"component": "ComponentStatus", "feature": "FeatureStatus", "phase": "PhaseStatus",
            "step": "StepStatus"}[kind]
    return getattr(module, enum)(value)


def test_every_write_method_accepts_what_the_original_accepted(db: Database, original_db: Any) -> None:
    for name, call in CALLS:
        theirs, ours = call(original_db), call(db)
        if theirs is None:
            assert ours is None or type(ours) is int, name
        else:
            assert type(ours) is type(theirs), name
        for status in db.store.projection_status():
            assert (status.status, status.skipped) == ("ok", 0), (name, status)
    _assert_reads_agree(db, original_db)


def _assert_reads_agree(db: Database, original_db: Any) -> None:
    for feature_id in ("F1", "F2"):
        theirs = original_db.get_feature(feature_id)
        if theirs is not None:
            ours = db.get_feature(feature_id)
            assert ours is not None and (ours.id, ours.title) == (theirs.id, theirs.title)
    ours_phases = [(p.id, p.title, p.sequence) for p in db.get_phases("F1")]
    theirs_phases = [(p.id, p.title, p.sequence) for p in _or_empty(original_db.get_phases, "F1")]
    assert set(theirs_phases) <= set(ours_phases)
    assert {p[0] for p in ours_phases} == {"P1", "P2", "P3"}  # the original cannot read P3 back
    theirs_components = {c.id: c for c in original_db.get_components("F1")}
    ours_components = {c.id: c for c in db.get_components("F1")}
    assert set(theirs_components) <= set(ours_components)
    for component_id, theirs_component in theirs_components.items():
        ours_component = ours_components[component_id]
        for field in ("phase_id", "title", "files", "depends_on", "status", "assigned_role"):
            assert getattr(ours_component, field) == getattr(theirs_component, field), (component_id, field)
    theirs_checkpoint, ours_checkpoint = (d.get_latest_checkpoint("wf-2") for d in (original_db, db))
    assert theirs_checkpoint is not None and ours_checkpoint is not None
    for key in ("workflow_id", "step_id", "git_sha", "context", "status"):
        assert ours_checkpoint[key] == theirs_checkpoint[key], key
    # Two checkpoints in one second: the original returned the older (its defect 8), the
    # facade the one created last.
    latest = db.get_latest_checkpoint("wf-1")
    assert latest is not None and (latest["step_id"], latest["git_sha"]) == (None, "def456")
    theirs_metrics, ours_metrics = original_db.get_metrics(), db.get_metrics()
    assert len(ours_metrics) == len(theirs_metrics) == 2
    for theirs_metric, ours_metric in zip(theirs_metrics, ours_metrics, strict=True):
        assert set(theirs_metric) <= set(ours_metric)
        for key in ("role", "cli", "task_type", "workflow_id", "success", "duration_seconds", "retry_count",
                    "token_usage", "error_category"):
            assert ours_metric[key] == theirs_metric[key], key
    theirs_events, ours_events = original_db.get_execution_events("x-1"), db.get_execution_events("x-1")
    assert [{k: e[k] for k in e if k not in ("id", "timestamp")} for e in ours_events] == [
        {k: e[k] for k in e if k not in ("id", "timestamp")} for e in theirs_events
    ]


def _or_empty(query: Callable[[str], list[Any]], key: str) -> list[Any]:
    try:
        return query(key)
    except Exception:  # the original cannot read back a phase with a text sequence
        return []


@pytest.mark.parametrize("step_id", [None, "S1"])
def test_create_checkpoint_returns_an_id_as_the_original(db: Database, original_db: Any, step_id: str | None) -> None:
    for d in (original_db, db):
        d.append_event(_event(d, "wf-1"))
    theirs = original_db.create_checkpoint("wf-1", step_id, "abc", {"k": [1]})
    ours = db.create_checkpoint("wf-1", step_id, "abc", {"k": [1]})
    assert type(ours) is type(theirs) is int
    latest = db.get_latest_checkpoint("wf-1")
    assert latest is not None and (latest["id"], latest["step_id"], latest["context"]) == (ours, step_id, {"k": [1]})


@pytest.mark.parametrize("days", [30, "30", "7.5", None, "x", -1, True])
def test_get_metrics_answers_what_the_original_answers_for_any_days(
    db: Database, original_db: Any, days: Any
) -> None:
    for d in (original_db, db):
        d.record_metric("implementer", "claude", "wf-1", True, 12.5)
    theirs, ours = original_db.get_metrics(days=days), db.get_metrics(days=days)
    assert len(ours) == len(theirs)
