"""Malformed events are refused at append time with an error naming the problem, and
nothing is written: not the event, not a row."""

from __future__ import annotations

from typing import Any

import pytest

import evstore_features as ef
from evstore import InvalidEventError, NewEvent, PayloadValidationError
from evstore.testing import Scenario

COMPONENT_TYPES = [
    "component_created", "component_started", "component_completed", "component_failed",
    "component_status_changed", "component_dependencies_set",
]
VALID_COMPONENT_PAYLOADS: dict[str, dict[str, Any]] = {
    "component_created": {"phase_id": "P1", "title": "t"},
    "component_started": {},
    "component_completed": {},
    "component_failed": {},
    "component_status_changed": {"status": "testing"},
    "component_dependencies_set": {"depends_on": []},
}

BAD_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("feature_created", {}, "title"),
    ("feature_created", {"title": 3}, "title"),
    ("feature_created", {"title": "t", "description": None}, "description"),
    ("feature_created", {"title": "t", "id": ""}, "id"),
    ("feature_status_changed", {}, "status"),
    ("feature_status_changed", {"status": "pending"}, "status"),
    ("feature_completed", {"feature_id": 3}, "feature_id"),
    ("feature_failed", {"feature_id": ["F"]}, "feature_id"),
    ("phase_created", {"feature_id": "F", "title": "t", "sequence": 1}, "'id' (or 'phase_id')"),
    ("phase_created", {"id": "", "title": "t", "sequence": 1}, "id"),
    ("phase_created", {"id": "P", "phase_id": "Q", "title": "t", "sequence": 1}, "give one"),
    ("phase_created", {"id": "P", "title": "t", "sequence": "1"}, "sequence"),
    ("phase_created", {"id": "P", "title": "t", "sequence": True}, "sequence"),
    ("phase_created", {"id": "P", "title": "t", "sequence": 1.5}, "sequence"),
    ("phase_created", {"id": "P", "title": "t"}, "sequence"),
    ("phase_created", {"id": "P", "title": "t", "sequence": 1, "interfaces": {"name": "x"}}, "interfaces"),
    ("phase_created", {"id": "P", "title": "t", "sequence": 1,
                       "interfaces": [{"name": "x", "type": "t"}]}, "interfaces.0.definition"),
    ("phase_created", {"id": "P", "title": "t", "sequence": 1,
                       "interfaces": [{"name": "x", "type": "t", "definition": "d", "locked": "yes"}]},
     "interfaces.0.locked"),
    ("phase_status_changed", {"status": "completed"}, "phase_id"),
    ("phase_status_changed", {"phase_id": "P", "status": "implementing"}, "status"),
    ("phase_completed", {}, "phase_id"),
    ("phase_failed", {"phase_id": " "}, "phase_id"),
]
BAD_COMPONENT_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("component_created", {"title": "t"}, "phase_id"),
    ("component_created", {"phase_id": 1, "title": "t"}, "phase_id"),
    ("component_created", {"phase_id": "P", "title": "t", "files": "a.py"}, "files"),
    ("component_created", {"phase_id": "P", "title": "t", "files": [1]}, "files.0"),
    ("component_created", {"phase_id": "P", "title": "t", "depends_on": "C1"}, "depends_on"),
    ("component_created", {"phase_id": "P", "title": "t", "assigned_role": 5}, "assigned_role"),
    ("component_created", {"phase_id": "P"}, "title"),
    ("component_completed", {"output": "done"}, "output"),
    ("component_completed", {"output": [1, 2]}, "output"),
    ("component_failed", {"error": 5}, "error"),
    ("component_status_changed", {}, "status"),
    ("component_status_changed", {"status": "done"}, "status"),
    ("component_status_changed", {"status": "testing", "output": "x"}, "output"),
    ("component_dependencies_set", {}, "depends_on"),
    ("component_dependencies_set", {"depends_on": "C1"}, "depends_on"),
]


def seeded(scenario: Scenario) -> Scenario:
    """Feature F, phase P1 and component C1 exist, so "no row written" is not trivially
    true."""
    store = scenario.store
    ef.create_feature(store, "F", "Login")
    ef.create_phase(store, "P1", "F", "p", 1)
    ef.create_component(store, "C1", "P1", "c")
    return scenario


# Scenario.then_error checks the error, then that the failed append wrote nothing: the
# head did not move and no row of any loaded projection changed.


@pytest.mark.parametrize("event_type", COMPONENT_TYPES)
def test_component_events_without_a_component_id_are_refused(evstore_scenario: Scenario, event_type: str) -> None:
    (
        seeded(evstore_scenario)
        .when(NewEvent(workflow_id="F", event_type=event_type, payload=VALID_COMPONENT_PAYLOADS[event_type]))
        .then_error(InvalidEventError, match=f"{event_type!r} requires component_id")
    )


@pytest.mark.parametrize(("event_type", "payload", "names"), BAD_PAYLOADS + BAD_COMPONENT_PAYLOADS)
def test_payloads_of_the_wrong_shape_are_refused_naming_the_field(
    evstore_scenario: Scenario, event_type: str, payload: dict[str, Any], names: str,
) -> None:
    component_id = "C1" if event_type.startswith("component_") else None
    (
        seeded(evstore_scenario)
        .when(NewEvent(workflow_id="F", event_type=event_type, component_id=component_id, payload=payload))
        .then_error(PayloadValidationError, match=f"payload of {event_type!r}")
    )
    assert names in str(evstore_scenario.error)


def test_one_bad_event_rejects_its_whole_batch(evstore_scenario: Scenario) -> None:
    (
        seeded(evstore_scenario)
        .when(
            NewEvent(workflow_id="F", event_type="component_completed", component_id="C1"),
            NewEvent(workflow_id="F", event_type="phase_completed", payload={"phase": "P1"}),
        )
        .then_error(PayloadValidationError)
    )


def test_the_valid_shapes_used_above_are_accepted(evstore_scenario: Scenario) -> None:
    """Guards the tests above: they fail for the reason they name, not another."""
    store = seeded(evstore_scenario).store
    for event_type, payload in VALID_COMPONENT_PAYLOADS.items():
        store.append(NewEvent(workflow_id="F", event_type=event_type, component_id="C9", payload=payload))
    store.append(NewEvent(workflow_id="F", event_type="phase_created",
                          payload={"phase_id": "P2", "title": "t", "sequence": 2, "extra": "ignored"}))
    assert [s.status for s in store.projection_status()] == ["ok"]
