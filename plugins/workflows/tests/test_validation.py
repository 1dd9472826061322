"""Bad workflow events are rejected at append time, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from evstore import EventStore, NewEvent, PayloadValidationError
from evstore_workflows import get_workflow, list_workflows


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [
        ("workflow_started", {"context": "not a dict"}, "context"),
        ("workflow_started", {"context": ["a", "b"]}, "context"),
        ("workflow_started", {"initial_step": 7}, "initial_step"),
        ("workflow_started", {"initial_step": ["plan"]}, "initial_step"),
        ("workflow_failed", {"error": {"code": 1}}, "error"),
        ("workflow_failed", {"error": 500}, "error"),
    ],
)
def test_wrong_payload_types_are_rejected_and_nothing_is_written(
    store: EventStore, event_type: str, payload: dict[str, Any], field: str
) -> None:
    store.append(NewEvent(workflow_id="other", event_type="workflow_started"))
    head = store.head()
    with pytest.raises(PayloadValidationError, match=f"{event_type}.*{field}"):
        store.append(NewEvent(workflow_id="wf", event_type=event_type, payload=payload))
    assert store.head() == head
    assert get_workflow(store, "wf") is None


def test_a_bad_event_rejects_its_whole_batch(store: EventStore) -> None:
    good = NewEvent(workflow_id="wf", event_type="workflow_started")
    bad = NewEvent(workflow_id="wf", event_type="workflow_failed", payload={"error": 1})
    with pytest.raises(PayloadValidationError):
        store.append_many([good, bad])
    assert store.head() == 0
    assert list_workflows(store) == []


def test_extra_payload_keys_are_accepted_and_kept_in_the_log(store: EventStore) -> None:
    payload = {"initial_step": "plan", "context": {}, "requested_by": "alice"}
    store.append(NewEvent(workflow_id="wf", event_type="workflow_started", payload=payload))
    [recorded] = store.read("wf")
    assert recorded.payload == payload
    workflow = get_workflow(store, "wf")
    assert workflow is not None and workflow.current_step == "plan"
