"""The query API: get_workflow and list_workflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evstore import EventStore, InvalidArgumentError, NewEvent, UnknownProjectionError
from evstore_workflows import Workflow, WorkflowStatus, get_workflow, list_workflows

StoreFactory = Callable[..., EventStore]
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def append(store: EventStore, event_type: str, workflow_id: str, **fields: Any) -> int:
    return store.append(NewEvent(workflow_id=workflow_id, event_type=event_type, timestamp=T0, **fields))


def test_get_workflow_returns_none_for_an_unknown_id(store: EventStore) -> None:
    assert get_workflow(store, "nope") is None


def test_get_workflow_returns_a_model_with_every_column(store: EventStore) -> None:
    append(store, "workflow_started", "wf", payload={"initial_step": "s", "context": {"n": 1}})
    assert get_workflow(store, "wf") == Workflow(
        id="wf", current_step="s", status=WorkflowStatus.ACTIVE, context={"n": 1}, error=None,
        created_at=T0, updated_at=T0,
    )


def test_list_workflows_is_in_creation_order_not_id_order(store: EventStore) -> None:
    for workflow_id in ["wf-10", "wf-2", "wf-1"]:
        append(store, "workflow_started", workflow_id)
    append(store, "workflow_completed", "wf-2")
    assert [w.id for w in list_workflows(store)] == ["wf-10", "wf-2", "wf-1"]


def test_list_workflows_filters_by_status(store: EventStore) -> None:
    append(store, "workflow_started", "a")
    append(store, "workflow_completed", "b")
    append(store, "workflow_failed", "c")
    append(store, "workflow_started", "d")
    assert [w.id for w in list_workflows(store, "active")] == ["a", "d"]
    assert [w.id for w in list_workflows(store, WorkflowStatus.COMPLETED)] == ["b"]
    assert [w.id for w in list_workflows(store, status="failed")] == ["c"]


def test_list_workflows_of_an_empty_store_is_empty(store: EventStore) -> None:
    assert list_workflows(store) == []


def test_status_compares_equal_to_the_raw_string(store: EventStore) -> None:
    append(store, "workflow_failed", "wf")
    workflow = get_workflow(store, "wf")
    assert workflow is not None
    assert workflow.status == "failed"
    assert store.reader.fetchvalue("SELECT status FROM workflows WHERE id = 'wf'") == workflow.status


@pytest.mark.parametrize("status", ["running", "ACTIVE", "", 3])
def test_an_unknown_status_filter_is_refused(store: EventStore, status: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="status must be one of"):
        list_workflows(store, status)


@pytest.mark.parametrize("workflow_id", ["", None, 5])
def test_a_bad_workflow_id_is_refused(store: EventStore, workflow_id: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="workflow_id"):
        get_workflow(store, workflow_id)


def test_querying_a_store_without_the_projection_says_how_to_load_it(
    open_store: StoreFactory,
) -> None:
    bare = open_store(plugins=[])
    with pytest.raises(UnknownProjectionError, match="plugins=\\[evstore_workflows\\]"):
        get_workflow(bare, "wf")
    with pytest.raises(UnknownProjectionError, match="evstore-workflows"):
        list_workflows(bare)


def test_timestamps_are_aware_utc(store: EventStore) -> None:
    local = datetime(2025, 1, 1, 9, 0, tzinfo=UTC) + timedelta(microseconds=7)
    store.append(NewEvent(workflow_id="wf", event_type="workflow_started", timestamp=local))
    workflow = get_workflow(store, "wf")
    assert workflow is not None
    assert workflow.created_at.utcoffset() == timedelta(0)
    assert workflow.created_at == local
