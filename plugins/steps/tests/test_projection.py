"""The steps projection: what each handled event does to the ``steps`` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore, NewEvent
from evstore.testing import StoreFactory
from evstore_steps import StepStatus, get_step

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ORIGINAL_COLUMNS = [
    "id", "workflow_id", "role", "status", "gates", "context", "output", "error", "created_at", "updated_at",
]


def event(event_type: str, step_id: str = "s-1", at: datetime = T0, **fields: Any) -> NewEvent:
    fields.setdefault("workflow_id", "wf-1")
    return NewEvent(event_type=event_type, step_id=step_id, timestamp=at, **fields)


def started(step_id: str = "s-1", at: datetime = T0, role: str = "implementer", **fields: Any) -> NewEvent:
    return event("step_started", step_id, at, role=role, **fields)


def column_names(store: EventStore) -> list[str]:
    return store.reader.column_names("steps")


def raw_row(store: EventStore, step_id: str) -> dict[str, Any]:
    values = store.reader.fetchall("SELECT * FROM steps WHERE id = ?", (step_id,))
    assert len(values) == 1, f"expected one row for {step_id!r}, got {values}"
    return dict(zip(column_names(store), values[0], strict=True))


def test_table_keeps_the_original_columns_first(evstore_store: EventStore) -> None:
    assert column_names(evstore_store)[: len(ORIGINAL_COLUMNS)] == ORIGINAL_COLUMNS


def test_step_started_creates_an_in_progress_row(evstore_store: EventStore) -> None:
    at = datetime(2025, 3, 1, 7, 0, 0, 42, tzinfo=timezone(timedelta(hours=-5)))
    position = evstore_store.append(
        started(at=at, payload={"gates": ["lint", "tests"], "context": {"files": ["a.py"], "n": 1.5}})
    )
    row = raw_row(evstore_store, "s-1")
    assert row == {
        "id": "s-1", "workflow_id": "wf-1", "role": "implementer", "status": "in_progress",
        # Compact JSON text, as raw SQL users read it; times in UTC from the event.
        "gates": '["lint","tests"]', "context": '{"files":["a.py"],"n":1.5}',
        "output": None, "error": None,
        "created_at": "2025-03-01T12:00:00.000042+00:00", "updated_at": "2025-03-01T12:00:00.000042+00:00",
        "retry_count": 0, "created_position": position,
    }


def test_a_step_is_projected_without_any_workflow_started(evstore_store: EventStore) -> None:
    # The original dropped such a step on a foreign-key failure.
    evstore_store.append(started(workflow_id="never-started"))
    step = get_step(evstore_store, "s-1")
    assert step is not None
    assert (step.workflow_id, step.status) == ("never-started", StepStatus.IN_PROGRESS)


def test_step_applying_is_a_readable_status(evstore_store: EventStore) -> None:
    evstore_store.append(started())
    evstore_store.append(event("step_applying", at=T0 + timedelta(seconds=1)))
    step = get_step(evstore_store, "s-1")
    assert step is not None
    assert step.status is StepStatus.APPLYING
    assert raw_row(evstore_store, "s-1")["status"] == "applying"
    assert step.updated_at == T0 + timedelta(seconds=1)


def test_step_completed_records_the_output(evstore_store: EventStore) -> None:
    evstore_store.append(started())
    evstore_store.append(event("step_completed", payload={"output": {"files_changed": 3, "summary": "ok"}}))
    step = get_step(evstore_store, "s-1")
    assert step is not None
    assert (step.status, step.output) == (StepStatus.COMPLETED, {"files_changed": 3, "summary": "ok"})
    assert raw_row(evstore_store, "s-1")["output"] == '{"files_changed":3,"summary":"ok"}'


def test_step_completed_without_output_leaves_output_null(evstore_store: EventStore) -> None:
    evstore_store.append(started())
    evstore_store.append(event("step_completed"))
    assert raw_row(evstore_store, "s-1")["output"] is None


def test_step_failed_records_the_error(evstore_store: EventStore) -> None:
    evstore_store.append(started())
    evstore_store.append(event("step_failed", payload={"error": "tests failed"}))
    step = get_step(evstore_store, "s-1")
    assert step is not None
    assert (step.status, step.error) == (StepStatus.FAILED, "tests failed")


def test_retries_are_counted_and_the_step_is_in_progress_again(evstore_store: EventStore) -> None:
    evstore_store.append(started())
    evstore_store.append(event("step_failed", payload={"error": "flaky"}))
    evstore_store.append(event("step_retried"))
    evstore_store.append(event("step_failed", payload={"error": "flaky again"}))
    evstore_store.append(event("step_retried"))
    step = get_step(evstore_store, "s-1")
    assert step is not None
    assert (step.retry_count, step.status) == (2, StepStatus.IN_PROGRESS)
    # The last error stays, so the row still says why the step was retried.
    assert step.error == "flaky again"
    evstore_store.append(event("step_completed", payload={"output": {}}))
    step = get_step(evstore_store, "s-1")
    assert step is not None and (step.retry_count, step.status) == (2, "completed")


@pytest.mark.parametrize(
    ("event_type", "payload", "status", "column", "value"),
    [
        ("step_applying", {}, "applying", "retry_count", 0),
        ("step_completed", {"output": {"a": 1}}, "completed", "output", '{"a":1}'),
        ("step_failed", {"error": "e"}, "failed", "error", "e"),
        ("step_retried", {}, "in_progress", "retry_count", 1),
    ],
)
def test_an_event_before_step_started_still_creates_the_row(
    evstore_store: EventStore, event_type: str, payload: dict[str, Any], status: str, column: str, value: Any
) -> None:
    position = evstore_store.append(event(event_type, payload=payload, workflow_id="wf-9"))
    row = raw_row(evstore_store, "s-1")
    assert (row["status"], row[column]) == (status, value)
    assert (row["workflow_id"], row["role"], row["gates"], row["context"]) == ("wf-9", None, "[]", "{}")
    assert row["created_position"] == position
    assert row["created_at"] == "2025-03-01T12:00:00.123456+00:00"


def test_a_later_step_started_fills_in_the_row_and_keeps_its_creation(evstore_store: EventStore) -> None:
    first = evstore_store.append(event("step_applying"))
    evstore_store.append(started(at=T0 + timedelta(minutes=1), role="reviewer", payload={"gates": ["g"]}))
    row = raw_row(evstore_store, "s-1")
    assert (row["role"], row["status"], row["gates"]) == ("reviewer", "in_progress", '["g"]')
    assert (row["created_position"], row["created_at"]) == (first, "2025-03-01T12:00:00.123456+00:00")
    assert row["updated_at"] == "2025-03-01T12:01:00.123456+00:00"


def test_other_events_fill_in_a_missing_role_but_never_change_one(evstore_store: EventStore) -> None:
    evstore_store.append(event("step_applying"))
    evstore_store.append(event("step_failed", role="tester"))
    assert raw_row(evstore_store, "s-1")["role"] == "tester"
    evstore_store.append(event("step_retried", role="someone-else"))
    assert raw_row(evstore_store, "s-1")["role"] == "tester"


def test_restarting_a_step_is_a_new_attempt(evstore_store: EventStore) -> None:
    first = evstore_store.append(started(payload={"gates": ["a"], "context": {"try": 1}}))
    evstore_store.append(event("step_failed", payload={"error": "boom"}))
    evstore_store.append(event("step_retried"))
    evstore_store.append(event("step_completed", payload={"output": {"x": 1}}))
    evstore_store.append(started(at=T0 + timedelta(hours=1), role="fixer", payload={"context": {"try": 2}}))
    row = raw_row(evstore_store, "s-1")
    assert (row["status"], row["role"]) == ("in_progress", "fixer")
    assert (row["gates"], row["context"]) == ("[]", '{"try":2}')
    assert (row["output"], row["error"], row["retry_count"]) == (None, None, 1)
    assert row["created_position"] == first


def test_step_started_in_another_workflow_moves_the_step(evstore_store: EventStore) -> None:
    # Step ids are global, as in the original: the latest step_started says where it runs.
    evstore_store.append(started(workflow_id="wf-a"))
    evstore_store.append(started(workflow_id="wf-b"))
    assert raw_row(evstore_store, "s-1")["workflow_id"] == "wf-b"
    assert evstore_store.reader.fetchvalue("SELECT COUNT(*) FROM steps") == 1


def test_a_rolled_back_transaction_leaves_no_row(evstore_store: EventStore) -> None:
    with pytest.raises(RuntimeError), evstore_store.transaction() as tx:
        tx.append(started())
        raise RuntimeError("abandon")
    assert get_step(evstore_store, "s-1") is None


def test_history_appended_before_the_plugin_was_installed_is_caught_up(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object]
) -> None:
    """Events stored while the plugin was not loaded were never validated; they are still
    applied on its first open, so nothing is dropped and the projection is not failing."""
    bare = evstore_store_factory([], permissive=True)
    bare.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="no-role",
                         payload={"gates": "lint", "context": ["x"]}))
    bare.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="mixed",
                         role="r", payload={"gates": ["ok", 3]}))
    bare.append(NewEvent(workflow_id="wf", event_type="step_completed", step_id="no-role",
                         payload={"output": "text"}))
    bare.append(NewEvent(workflow_id="wf", event_type="step_failed", payload={"error": "no step id"}))
    bare.close()

    store = evstore_store_factory(evstore_plugins)
    [status] = [s for s in store.projection_status() if s.name == "steps"]
    assert (status.status, status.lag) == ("ok", 0)
    row = raw_row(store, "no-role")
    assert (row["role"], row["gates"], row["context"], row["status"], row["output"]) == (
        None, "[]", "{}", "completed", None,
    )
    assert raw_row(store, "mixed")["gates"] == '["ok"]'
    assert store.reader.fetchvalue("SELECT COUNT(*) FROM steps") == 2


def test_late_install_gives_the_same_rows_as_projecting_live(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object], tmp_path: Path
) -> None:
    live = evstore_store_factory(evstore_plugins, path=tmp_path / "live.db")
    live.append(started(payload={"gates": ["g"], "context": {"k": [1, {"v": None}]}}))
    live.append(event("step_applying", at=T0 + timedelta(seconds=1)))
    live.append(event("step_retried", "s-2", at=T0 - timedelta(days=3), role="r"))
    live.append(event("step_completed", at=T0 + timedelta(seconds=2), payload={"output": {"é": "ü"}}))

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
    query = "SELECT * FROM steps ORDER BY id"
    assert late.reader.fetchall(query) == live.reader.fetchall(query)


def test_plugin_is_found_through_its_entry_point(
    evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "steps")
    monkeypatch.delenv("EVSTORE_DISABLE_PLUGINS", raising=False)
    store = evstore_store_factory([], autoload=True)
    [info] = store.plugins
    assert (info.name, info.distribution) == ("steps", "evstore-steps")
    assert info.event_types == [
        "step_started", "step_applying", "step_completed", "step_failed", "step_retried",
        "step_status_changed",
    ]
    assert info.projections == ["steps"]


def test_explicit_registration_uses_the_entry_point_name(evstore_store: EventStore) -> None:
    [info] = evstore_store.plugins
    assert (info.name, info.projections) == ("steps", ["steps"])
