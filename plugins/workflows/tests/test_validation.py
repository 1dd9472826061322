"""Bad workflow events are rejected at append time, and nothing is written."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evstore import EventStore, NewEvent, PayloadValidationError
from evstore.testing import Scenario
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
    evstore_scenario: Scenario, event_type: str, payload: dict[str, Any], field: str
) -> None:
    (
        evstore_scenario.given(NewEvent(workflow_id="other", event_type="workflow_started"))
        .when(NewEvent(workflow_id="wf", event_type=event_type, payload=payload))
        .then_error(PayloadValidationError)  # no event stored, no row changed
    )
    assert re.search(f"{event_type}.*{field}", str(evstore_scenario.error))
    assert get_workflow(evstore_scenario.store, "wf") is None


def test_a_bad_event_rejects_its_whole_batch(evstore_scenario: Scenario) -> None:
    good = NewEvent(workflow_id="wf", event_type="workflow_started")
    bad = NewEvent(workflow_id="wf", event_type="workflow_failed", payload={"error": 1})
    evstore_scenario.when(good, bad).then_error(PayloadValidationError)
    assert evstore_scenario.store.head() == 0
    assert list_workflows(evstore_scenario.store) == []


def test_extra_payload_keys_are_accepted_and_kept_in_the_log(evstore_store: EventStore) -> None:
    payload = {"initial_step": "plan", "context": {}, "requested_by": "alice"}
    evstore_store.append(NewEvent(workflow_id="wf", event_type="workflow_started", payload=payload))
    [recorded] = evstore_store.read("wf")
    assert recorded.payload == payload
    workflow = get_workflow(evstore_store, "wf")
    assert workflow is not None and workflow.current_step == "plan"
