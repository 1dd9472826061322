"""The query API: get_step and list_steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evstore import EventStore, InvalidArgumentError, NewEvent, UnknownProjectionError
from evstore.testing import StoreFactory
from evstore_steps import Step, StepStatus, get_step, list_steps

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def start(store: EventStore, step_id: str, workflow_id: str = "wf", **fields: Any) -> int:
    return store.append(
        NewEvent(workflow_id=workflow_id, event_type="step_started", step_id=step_id,
                 role="implementer", timestamp=T0, **fields)
    )


def test_get_step_returns_none_for_an_unknown_id(evstore_store: EventStore) -> None:
    assert get_step(evstore_store, "nope") is None


def test_get_step_returns_the_original_fields_plus_retry_count(evstore_store: EventStore) -> None:
    start(evstore_store, "s", payload={"gates": ["lint"], "context": {"k": "v"}})
    evstore_store.append(NewEvent(workflow_id="wf", event_type="step_retried", step_id="s",
                          timestamp=T0 + timedelta(seconds=1)))
    assert get_step(evstore_store, "s") == Step(
        id="s", workflow_id="wf", role="implementer", status=StepStatus.IN_PROGRESS,
        gates=["lint"], context={"k": "v"}, output=None, error=None,
        created_at=T0, updated_at=T0 + timedelta(seconds=1), retry_count=1,
    )


def test_list_steps_is_in_creation_order_not_id_order(evstore_store: EventStore) -> None:
    for step_id in ["step-10", "step-2", "step-1"]:
        start(evstore_store, step_id)
    start(evstore_store, "elsewhere", workflow_id="other")
    # Touching an early step again does not move it.
    evstore_store.append(NewEvent(workflow_id="wf", event_type="step_completed", step_id="step-10"))
    assert [s.id for s in list_steps(evstore_store, "wf")] == ["step-10", "step-2", "step-1"]
    assert [s.id for s in list_steps(evstore_store, "other")] == ["elsewhere"]


def test_list_steps_of_a_workflow_without_steps_is_empty(evstore_store: EventStore) -> None:
    start(evstore_store, "s")
    assert list_steps(evstore_store, "no-such-workflow") == []


def test_every_stored_status_reads_back(evstore_store: EventStore) -> None:
    start(evstore_store, "started")
    for event_type in ["step_applying", "step_completed", "step_failed", "step_retried"]:
        evstore_store.append(NewEvent(workflow_id="wf", event_type=event_type, step_id=event_type))
    statuses = {s.id: s.status for s in list_steps(evstore_store, "wf")}
    assert statuses == {
        "started": StepStatus.IN_PROGRESS, "step_applying": StepStatus.APPLYING,
        "step_completed": StepStatus.COMPLETED, "step_failed": StepStatus.FAILED,
        "step_retried": StepStatus.IN_PROGRESS,
    }


def test_status_values_are_the_originals_plus_applying() -> None:
    assert [s.value for s in StepStatus] == [
        "pending", "in_progress", "completed", "failed", "blocked", "awaiting_approval", "applying",
    ]


def test_timestamps_are_aware(evstore_store: EventStore) -> None:
    start(evstore_store, "s")
    step = get_step(evstore_store, "s")
    assert step is not None
    assert step.created_at.utcoffset() == timedelta(0) and step.updated_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("bad", ["", None, 7])
def test_bad_ids_are_refused(evstore_store: EventStore, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="step_id"):
        get_step(evstore_store, bad)
    with pytest.raises(InvalidArgumentError, match="workflow_id"):
        list_steps(evstore_store, bad)


def test_querying_a_store_without_the_projection_says_how_to_load_it(evstore_store_factory: StoreFactory) -> None:
    bare = evstore_store_factory([])
    with pytest.raises(UnknownProjectionError, match="plugins=\\[evstore_steps\\]"):
        get_step(bare, "s")
    with pytest.raises(UnknownProjectionError, match="evstore-steps"):
        list_steps(bare, "wf")
