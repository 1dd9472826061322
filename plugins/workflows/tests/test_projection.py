"""The workflows projection: what each handled event does to the ``workflows`` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore, NewEvent
from evstore.testing import Scenario, StoreFactory
from evstore_workflows import WorkflowStatus, get_workflow

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ORIGINAL_COLUMNS = ["id", "current_step", "status", "context", "created_at", "updated_at"]


def event(event_type: str, workflow_id: str = "wf-1", at: datetime = T0, **fields: Any) -> NewEvent:
    return NewEvent(workflow_id=workflow_id, event_type=event_type, timestamp=at, **fields)


def column_names(store: EventStore) -> list[str]:
    return store.reader.column_names("workflows")


def raw_row(store: EventStore, workflow_id: str) -> dict[str, Any]:
    columns = column_names(store)
    values = store.reader.fetchall("SELECT * FROM workflows WHERE id = ?", (workflow_id,))
    assert len(values) == 1, f"expected one row for {workflow_id!r}, got {values}"
    return dict(zip(columns, values[0], strict=True))


def test_table_keeps_the_original_columns_first(evstore_store: EventStore) -> None:
    columns = column_names(evstore_store)
    assert columns[: len(ORIGINAL_COLUMNS)] == ORIGINAL_COLUMNS


def test_workflow_started_creates_an_active_row(evstore_scenario: Scenario) -> None:
    at = datetime(2025, 3, 1, 14, 30, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    (
        evstore_scenario.when(
            event(
                "workflow_started", at=at,
                payload={"initial_step": "plan", "context": {"ticket": "T-1", "files": ["a.py"]}},
            )
        )
        # Compact JSON text, as raw SQL users read it; times in UTC from the event.
        .then_rows("workflows", [{
            "id": "wf-1", "status": "active", "current_step": "plan",
            "context": '{"ticket":"T-1","files":["a.py"]}',
            "created_at": "2025-03-01T12:30:00.000005+00:00", "updated_at": "2025-03-01T12:30:00.000005+00:00",
            "error": None,
        }])
    )
    workflow = get_workflow(evstore_scenario.store, "wf-1")
    assert workflow is not None
    assert workflow.status is WorkflowStatus.ACTIVE
    assert workflow.context == {"ticket": "T-1", "files": ["a.py"]}
    assert workflow.created_at == at
    assert workflow.created_at.tzinfo is not None


def test_workflow_started_without_payload_has_no_current_step_and_empty_context(
    evstore_scenario: Scenario,
) -> None:
    (
        evstore_scenario.when(event("workflow_started"))
        .then_rows("workflows", [("wf-1", "active", None, "{}")], columns=["id", "status", "current_step", "context"])
    )


def test_workflow_completed_sets_status_and_updated_at_only(evstore_store: EventStore) -> None:
    evstore_store.append(event("workflow_started", payload={"initial_step": "plan", "context": {"k": 1}}))
    evstore_store.append(event("workflow_completed", at=T0 + timedelta(minutes=5)))
    workflow = get_workflow(evstore_store, "wf-1")
    assert workflow is not None
    assert workflow.status == "completed"
    assert (workflow.current_step, workflow.context) == ("plan", {"k": 1})
    assert workflow.created_at == T0
    assert workflow.updated_at == T0 + timedelta(minutes=5)


def test_workflow_failed_records_the_error(evstore_store: EventStore) -> None:
    evstore_store.append(event("workflow_started"))
    evstore_store.append(event("workflow_failed", at=T0 + timedelta(seconds=1), payload={"error": "gate failed"}))
    workflow = get_workflow(evstore_store, "wf-1")
    assert workflow is not None
    assert (workflow.status, workflow.error) == (WorkflowStatus.FAILED, "gate failed")


def test_restarting_a_failed_workflow_clears_its_error(evstore_store: EventStore) -> None:
    evstore_store.append(event("workflow_failed", payload={"error": "boom"}))
    evstore_store.append(event("workflow_started", payload={"context": {"attempt": 2}}))
    workflow = get_workflow(evstore_store, "wf-1")
    assert workflow is not None
    assert (workflow.status, workflow.error, workflow.context) == ("active", None, {"attempt": 2})


def test_completing_a_failed_workflow_clears_its_error(evstore_store: EventStore) -> None:
    evstore_store.append(event("workflow_failed", payload={"error": "boom"}))
    evstore_store.append(event("workflow_completed"))
    workflow = get_workflow(evstore_store, "wf-1")
    assert workflow is not None
    assert (workflow.status, workflow.error) == ("completed", None)


def test_completed_or_failed_without_a_start_still_projects_a_row(evstore_scenario: Scenario) -> None:
    moment = "2025-03-01T12:00:00.123456+00:00"
    (
        evstore_scenario.given(event("workflow_completed", workflow_id="wf-done", at=T0))
        .when(event("workflow_failed", workflow_id="wf-bad", at=T0, payload={"error": "x"}))
        .then_rows("workflows", [
            ("wf-done", "completed", None, "{}", None, moment, moment),
            ("wf-bad", "failed", None, "{}", "x", moment, moment),
        ], columns=["id", "status", "current_step", "context", "error", "created_at", "updated_at"])
    )


def test_step_started_sets_current_step_even_without_workflow_started(evstore_store: EventStore) -> None:
    evstore_store.append(event("step_started", role="implementer", step_id="s-1"))
    row = raw_row(evstore_store, "wf-1")
    assert (row["status"], row["current_step"], row["context"]) == ("active", "s-1", "{}")

    evstore_store.append(event("step_started", at=T0 + timedelta(seconds=3), role="reviewer", step_id="s-2"))
    workflow = get_workflow(evstore_store, "wf-1")
    assert workflow is not None
    assert workflow.current_step == "s-2"
    assert workflow.created_at == T0
    assert workflow.updated_at == T0 + timedelta(seconds=3)


def test_step_started_keeps_the_status_of_a_finished_workflow(evstore_scenario: Scenario) -> None:
    (
        evstore_scenario.given(event("workflow_completed"))
        .when(event("step_started", role="implementer", step_id="late"))
        .then_rows("workflows", [{"status": "completed", "current_step": "late"}])
    )


def test_late_workflow_started_keeps_the_current_step_unless_it_names_one(evstore_store: EventStore) -> None:
    evstore_store.append(event("step_started", role="implementer", step_id="s-1"))
    evstore_store.append(event("workflow_started", payload={"context": {"a": 1}}))
    assert raw_row(evstore_store, "wf-1")["current_step"] == "s-1"
    evstore_store.append(event("workflow_started", payload={"initial_step": "plan"}))
    assert raw_row(evstore_store, "wf-1")["current_step"] == "plan"


def test_created_at_and_position_belong_to_the_first_event(evstore_store: EventStore) -> None:
    first = evstore_store.append(event("workflow_started", at=T0))
    evstore_store.append(event("workflow_started", at=T0 + timedelta(hours=1)))
    row = raw_row(evstore_store, "wf-1")
    assert row["created_position"] == first
    assert row["created_at"] == "2025-03-01T12:00:00.123456+00:00"
    assert row["updated_at"] == "2025-03-01T13:00:00.123456+00:00"


def test_events_of_one_transaction_are_projected_in_order(evstore_store: EventStore) -> None:
    with evstore_store.transaction() as tx:
        tx.append(event("workflow_started", payload={"initial_step": "a"}))
        tx.append(event("step_started", role="r", step_id="b"))
        # Queries inside the transaction see its writes.
        inside = get_workflow(evstore_store, "wf-1")
        assert inside is not None and inside.current_step == "b"
        tx.append(event("workflow_failed", payload={"error": "e"}))
    workflow = get_workflow(evstore_store, "wf-1")
    assert workflow is not None
    assert (workflow.current_step, workflow.status, workflow.error) == ("b", "failed", "e")


def test_a_rolled_back_transaction_leaves_no_row(evstore_store: EventStore) -> None:
    try:
        with evstore_store.transaction() as tx:
            tx.append(event("workflow_started"))
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert get_workflow(evstore_store, "wf-1") is None


def test_history_appended_before_the_plugin_was_installed_is_caught_up(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object]
) -> None:
    """Events stored while the plugin was not loaded (so never validated) are applied on
    its first open: nothing is dropped and the projection is not left failing."""
    bare = evstore_store_factory([], permissive=True)
    bare.append(event("workflow_started", payload={"initial_step": 7, "context": "not a dict"}))
    bare.append(event("step_started", workflow_id="wf-2", step_id="s-9"))
    bare.append(event("workflow_failed", workflow_id="wf-3", payload={"error": {"code": 1}}))
    bare.close()

    store = evstore_store_factory(evstore_plugins)
    [status] = [s for s in store.projection_status() if s.name == "workflows"]
    assert (status.status, status.lag) == ("ok", 0)
    assert raw_row(store, "wf-1")["current_step"] is None
    assert raw_row(store, "wf-1")["context"] == "{}"
    assert raw_row(store, "wf-2")["current_step"] == "s-9"
    assert (raw_row(store, "wf-3")["status"], raw_row(store, "wf-3")["error"]) == ("failed", None)


def test_late_install_gives_the_same_rows_as_projecting_live(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object], tmp_path: Path
) -> None:
    live = evstore_store_factory(evstore_plugins, path=tmp_path / "live.db")
    live.append(event("workflow_started", payload={"initial_step": "p", "context": {"x": [1, 2]}}))
    live.append(event("step_started", at=T0 + timedelta(seconds=1), role="r", step_id="s"))
    live.append(event("workflow_completed", workflow_id="wf-2", at=T0 - timedelta(days=1)))
    live.append(event("workflow_failed", at=T0 + timedelta(seconds=2), payload={"error": "e"}))

    bare = evstore_store_factory([], path=tmp_path / "late.db", permissive=True)
    for recorded in live.read_all():
        bare.append(
            NewEvent(
                workflow_id=recorded.workflow_id, event_type=recorded.event_type,
                role=recorded.role, step_id=recorded.step_id, payload=recorded.payload,
                timestamp=recorded.timestamp, event_id=recorded.event_id,
            )
        )
    bare.close()
    late = evstore_store_factory(evstore_plugins, path=tmp_path / "late.db")
    query = "SELECT * FROM workflows ORDER BY id"
    assert late.reader.fetchall(query) == live.reader.fetchall(query)


def test_plugin_is_found_through_its_entry_point(
    evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "workflows")
    monkeypatch.delenv("EVSTORE_DISABLE_PLUGINS", raising=False)
    store = evstore_store_factory([], autoload=True)
    [info] = store.plugins
    assert (info.name, info.distribution) == ("workflows", "evstore-workflows")
    assert info.event_types == ["workflow_started", "workflow_completed", "workflow_failed"]
    assert info.projections == ["workflows"]


def test_explicit_registration_uses_the_entry_point_name(evstore_store: EventStore) -> None:
    [info] = [info for info in evstore_store.plugins if info.projections == ["workflows"]]
    assert info.name == "workflows"
