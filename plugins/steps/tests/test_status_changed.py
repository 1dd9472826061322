"""``step_status_changed`` and the ``update_step`` command: the original's
``update_step(step_id, status, output=None, error=None)``, as an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evstore import EventStore, InvalidEventError, NewEvent, PayloadValidationError
from evstore.testing import StoreFactory
from evstore_steps import STEP_STATUS_CHANGED, StepStatus, get_step, update_step

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def started(store: EventStore, step_id: str = "s-1", workflow_id: str = "wf-1") -> int:
    return store.append(
        NewEvent(workflow_id=workflow_id, event_type="step_started", step_id=step_id, role="implementer",
                 timestamp=T0)
    )


def raw_row(store: EventStore, step_id: str) -> dict[str, Any]:
    names = store.reader.column_names("steps")
    [values] = store.reader.fetchall("SELECT * FROM steps WHERE id = ?", (step_id,))
    return dict(zip(names, values, strict=True))


@pytest.mark.parametrize("status", list(StepStatus))
def test_every_step_status_can_be_set(evstore_store: EventStore, status: StepStatus) -> None:
    started(evstore_store)
    update_step(evstore_store, "s-1", status)
    step = get_step(evstore_store, "s-1")
    assert step is not None and step.status is status
    assert raw_row(evstore_store, "s-1")["status"] == status.value


@pytest.mark.parametrize("status", ["blocked", "awaiting_approval", "completed"])
def test_plain_strings_are_accepted(evstore_store: EventStore, status: str) -> None:
    started(evstore_store)
    update_step(evstore_store, "s-1", status)
    assert raw_row(evstore_store, "s-1")["status"] == status


def test_output_and_error_are_set_exactly_as_given(evstore_store: EventStore) -> None:
    started(evstore_store)
    update_step(evstore_store, "s-1", "failed", output={"partial": [1, 2]}, error="tests failed")
    row = raw_row(evstore_store, "s-1")
    assert (row["status"], row["output"], row["error"]) == ("failed", '{"partial":[1,2]}', "tests failed")
    # None clears, as the original's UPDATE did.
    update_step(evstore_store, "s-1", StepStatus.IN_PROGRESS)
    row = raw_row(evstore_store, "s-1")
    assert (row["status"], row["output"], row["error"]) == ("in_progress", None, None)


def test_the_event_goes_to_the_steps_workflow_and_is_returned(evstore_store: EventStore) -> None:
    started(evstore_store, workflow_id="wf-7")
    position = update_step(evstore_store, "s-1", "blocked", error="waiting for review")
    [recorded] = evstore_store.read_all(after=position - 1)
    assert recorded.id == position
    assert (recorded.workflow_id, recorded.event_type, recorded.step_id, recorded.status) == (
        "wf-7", STEP_STATUS_CHANGED, "s-1", "blocked",
    )
    assert recorded.payload == {"status": "blocked", "output": None, "error": "waiting for review"}


def test_role_gates_context_and_retries_are_kept(evstore_store: EventStore) -> None:
    evstore_store.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="r",
                          payload={"gates": ["lint"], "context": {"k": 1}}))
    evstore_store.append(NewEvent(workflow_id="wf", event_type="step_retried", step_id="s"))
    update_step(evstore_store, "s", "awaiting_approval")
    step = get_step(evstore_store, "s")
    assert step is not None
    assert (step.role, step.gates, step.context, step.retry_count) == ("r", ["lint"], {"k": 1}, 1)


def test_unknown_step_raises_and_appends_nothing(evstore_store: EventStore) -> None:
    started(evstore_store)
    head = evstore_store.head()
    with pytest.raises(ValueError, match="step 'nope' not found"):
        update_step(evstore_store, "nope", "completed")
    assert evstore_store.head() == head


@pytest.mark.parametrize("status", ["done", "", "COMPLETED", 3])
def test_unknown_status_raises_and_appends_nothing(evstore_store: EventStore, status: Any) -> None:
    started(evstore_store)
    head = evstore_store.head()
    with pytest.raises(ValueError, match="status must be one of"):
        update_step(evstore_store, "s-1", status)
    assert evstore_store.head() == head


@pytest.mark.parametrize(
    "payload",
    [{}, {"status": "done"}, {"status": "failed", "output": "text"}, {"status": "failed", "error": 3}],
)
def test_bad_payloads_are_rejected_at_append(evstore_store: EventStore, payload: dict[str, Any]) -> None:
    started(evstore_store)
    head = evstore_store.head()
    with pytest.raises(PayloadValidationError, match=STEP_STATUS_CHANGED):
        evstore_store.append(
            NewEvent(workflow_id="wf-1", event_type=STEP_STATUS_CHANGED, step_id="s-1", payload=payload)
        )
    assert evstore_store.head() == head


def test_step_id_is_required(evstore_store: EventStore) -> None:
    with pytest.raises(InvalidEventError, match="requires step_id"):
        evstore_store.append(NewEvent(workflow_id="wf", event_type=STEP_STATUS_CHANGED, payload={"status": "failed"}))


def test_an_appended_event_for_an_unknown_step_creates_its_row(evstore_store: EventStore) -> None:
    # Like every step event: the projection never drops an event for arriving first.
    position = evstore_store.append(
        NewEvent(workflow_id="wf-3", event_type=STEP_STATUS_CHANGED, step_id="s-9", timestamp=T0,
                 payload={"status": "blocked"})
    )
    row = raw_row(evstore_store, "s-9")
    assert (row["workflow_id"], row["status"], row["created_position"]) == ("wf-3", "blocked", position)


def test_a_status_changed_stored_without_validation_and_unreadable_changes_nothing(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object],
) -> None:
    bare = evstore_store_factory([], permissive=True)
    bare.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="r", timestamp=T0))
    bare.append(NewEvent(workflow_id="wf", event_type=STEP_STATUS_CHANGED, step_id="s",
                         payload={"status": {"not": "a status"}}, timestamp=T0 + timedelta(seconds=1)))
    bare.close()
    store = evstore_store_factory(evstore_plugins)
    [status] = [s for s in store.projection_status() if s.name == "steps"]
    assert status.status == "ok"
    assert raw_row(store, "s")["status"] == "in_progress"


def test_update_step_inside_a_transaction_rolls_back_with_it(evstore_store: EventStore) -> None:
    started(evstore_store)
    with pytest.raises(RuntimeError), evstore_store.transaction():
        update_step(evstore_store, "s-1", "completed", output={"x": 1})
        assert raw_row(evstore_store, "s-1")["status"] == "completed"
        raise RuntimeError("abandon")
    assert raw_row(evstore_store, "s-1")["status"] == "in_progress"


def test_rebuild_keeps_status_changes(evstore_store: EventStore) -> None:
    started(evstore_store)
    update_step(evstore_store, "s-1", "awaiting_approval", output={"plan": "x"})
    before = evstore_store.reader.fetchall("SELECT * FROM steps")
    evstore_store.rebuild(["steps"])
    assert evstore_store.reader.fetchall("SELECT * FROM steps") == before
