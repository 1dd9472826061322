"""The query API: get_workflow and list_workflows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evstore import EventStore, InvalidArgumentError, NewEvent, UnknownProjectionError
from evstore.testing import StoreFactory
from evstore_workflows import Workflow, WorkflowStatus, get_workflow, list_workflows

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def append(store: EventStore, event_type: str, workflow_id: str, **fields: Any) -> int:
    return store.append(NewEvent(workflow_id=workflow_id, event_type=event_type, timestamp=T0, **fields))


def test_get_workflow_returns_none_for_an_unknown_id(evstore_store: EventStore) -> None:
    assert get_workflow(evstore_store, "nope") is None


def test_get_workflow_returns_a_model_with_every_column(evstore_store: EventStore) -> None:
    append(evstore_store, "workflow_started", "wf", payload={"initial_step": "s", "context": {"n": 1}})
    assert get_workflow(evstore_store, "wf") == Workflow(
        id="wf", current_step="s", status=WorkflowStatus.ACTIVE, context={"n": 1}, error=None,
        created_at=T0, updated_at=T0,
    )


def test_list_workflows_is_in_creation_order_not_id_order(evstore_store: EventStore) -> None:
    for workflow_id in ["wf-10", "wf-2", "wf-1"]:
        append(evstore_store, "workflow_started", workflow_id)
    append(evstore_store, "workflow_completed", "wf-2")
    assert [w.id for w in list_workflows(evstore_store)] == ["wf-10", "wf-2", "wf-1"]


def test_list_workflows_filters_by_status(evstore_store: EventStore) -> None:
    append(evstore_store, "workflow_started", "a")
    append(evstore_store, "workflow_completed", "b")
    append(evstore_store, "workflow_failed", "c")
    append(evstore_store, "workflow_started", "d")
    assert [w.id for w in list_workflows(evstore_store, "active")] == ["a", "d"]
    assert [w.id for w in list_workflows(evstore_store, WorkflowStatus.COMPLETED)] == ["b"]
    assert [w.id for w in list_workflows(evstore_store, status="failed")] == ["c"]


def test_list_workflows_of_an_empty_store_is_empty(evstore_store: EventStore) -> None:
    assert list_workflows(evstore_store) == []


def test_status_compares_equal_to_the_raw_string(evstore_store: EventStore) -> None:
    append(evstore_store, "workflow_failed", "wf")
    workflow = get_workflow(evstore_store, "wf")
    assert workflow is not None
    assert workflow.status == "failed"
    assert evstore_store.reader.fetchvalue("SELECT status FROM workflows WHERE id = 'wf'") == workflow.status


@pytest.mark.parametrize("status", ["running", "ACTIVE", "", 3])
def test_an_unknown_status_filter_is_refused(evstore_store: EventStore, status: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="status must be one of"):
        list_workflows(evstore_store, status)


@pytest.mark.parametrize("workflow_id", ["", None, 5])
def test_a_bad_workflow_id_is_refused(evstore_store: EventStore, workflow_id: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="workflow_id"):
        get_workflow(evstore_store, workflow_id)


def test_querying_a_store_without_the_projection_says_how_to_load_it(
    evstore_store_factory: StoreFactory,
) -> None:
    bare = evstore_store_factory([])
    with pytest.raises(UnknownProjectionError, match="plugins=\\[evstore_workflows\\]"):
        get_workflow(bare, "wf")
    with pytest.raises(UnknownProjectionError, match="evstore-workflows"):
        list_workflows(bare)


def test_timestamps_are_aware_utc(evstore_store: EventStore) -> None:
    local = datetime(2025, 1, 1, 9, 0, tzinfo=UTC) + timedelta(microseconds=7)
    evstore_store.append(NewEvent(workflow_id="wf", event_type="workflow_started", timestamp=local))
    workflow = get_workflow(evstore_store, "wf")
    assert workflow is not None
    assert workflow.created_at.utcoffset() == timedelta(0)
    assert workflow.created_at == local
