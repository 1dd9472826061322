"""Bad step events are rejected at append time, and nothing is written."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evstore import EventStore, InvalidEventError, NewEvent, PayloadValidationError
from evstore.testing import Scenario
from evstore_steps import get_step, list_steps

STEP_TYPES = [
    "step_started", "step_applying", "step_completed", "step_failed", "step_retried", "step_status_changed",
]


@pytest.fixture
def scenario(evstore_scenario: Scenario) -> Scenario:
    """The log already holds one valid step, so "nothing written" is not trivially true."""
    return evstore_scenario.given(NewEvent(workflow_id="wf", event_type="step_started", step_id="ok", role="r"))


@pytest.mark.parametrize("role", [None, "", "   "])
def test_step_started_without_a_role_is_rejected(scenario: Scenario, role: Any) -> None:
    # The original silently dropped such a step; here the caller hears about it.
    (
        scenario.when(NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role=role))
        .then_error(InvalidEventError, match="'step_started' requires role")  # and nothing written
    )
    assert get_step(scenario.store, "s") is None


@pytest.mark.parametrize("event_type", STEP_TYPES)
def test_every_step_event_requires_a_step_id(scenario: Scenario, event_type: str) -> None:
    (
        scenario.when(NewEvent(workflow_id="wf", event_type=event_type, role="r"))
        .then_error(InvalidEventError, match=f"'{event_type}' requires step_id")
    )


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [
        ("step_started", {"gates": "lint"}, "gates"),
        ("step_started", {"gates": ["lint", 3]}, "gates"),
        ("step_started", {"gates": None}, "gates"),
        ("step_started", {"context": ["a"]}, "context"),
        ("step_started", {"context": "text"}, "context"),
        ("step_completed", {"output": "done"}, "output"),
        ("step_completed", {"output": [1, 2]}, "output"),
        ("step_failed", {"error": {"code": 1}}, "error"),
        ("step_failed", {"error": 42}, "error"),
    ],
)
def test_wrong_payload_types_are_rejected(
    scenario: Scenario, event_type: str, payload: dict[str, Any], field: str
) -> None:
    (
        scenario.when(NewEvent(workflow_id="wf", event_type=event_type, step_id="s", role="r", payload=payload))
        .then_error(PayloadValidationError)
    )
    assert re.search(f"{event_type}.*{field}", str(scenario.error))
    assert get_step(scenario.store, "s") is None


def test_one_bad_event_rejects_its_whole_batch(scenario: Scenario) -> None:
    good = NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="r")
    no_role = NewEvent(workflow_id="wf", event_type="step_started", step_id="t")
    scenario.when(good, no_role).then_error(InvalidEventError)
    assert [s.id for s in list_steps(scenario.store, "wf")] == ["ok"]


def test_extra_payload_keys_are_accepted_and_kept_in_the_log(scenario: Scenario) -> None:
    store: EventStore = scenario.store
    payload = {"gates": ["g"], "context": {}, "model": "x-1"}
    store.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="r", payload=payload))
    assert store.read("wf")[-1].payload == payload
    step = get_step(store, "s")
    assert step is not None and step.gates == ["g"]
