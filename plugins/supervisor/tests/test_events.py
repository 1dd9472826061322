"""``EventType`` and ``Event``: the original's members and construction, plus
forward compatibility and the mapping to the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from evstore import UnknownEventTypeError
from evstore_supervisor import Database, Event, EventType, StepStatus

ORIGINAL_MEMBERS = [
    "WORKFLOW_STARTED", "WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "STEP_STARTED", "STEP_APPLYING",
    "STEP_COMPLETED", "STEP_FAILED", "STEP_RETRIED", "GATE_PASSED", "GATE_FAILED", "FEATURE_CREATED",
    "FEATURE_COMPLETED", "PHASE_CREATED", "PHASE_COMPLETED", "COMPONENT_CREATED", "COMPONENT_STARTED",
    "COMPONENT_COMPLETED", "COMPONENT_FAILED", "CHECKPOINT_CREATED", "CHECKPOINT_RESTORED",
    "APPROVAL_REQUESTED", "APPROVAL_GRANTED", "APPROVAL_DENIED", "APPROVAL_SKIPPED", "METADATA_SET",
]


@pytest.mark.parametrize("name", [*ORIGINAL_MEMBERS, "GATE_SKIPPED"])
def test_every_original_member_exists_with_its_lower_case_value(name: str) -> None:
    member = EventType[name]
    assert member.value == name.lower()
    assert member == name.lower()  # a str enum: equal to its value
    assert isinstance(member, str)


def test_every_member_is_declared_by_the_databases_plugins(db: Database) -> None:
    # Otherwise append_event would refuse a member of the facade's own enum.
    declared = set(db.store.registry.event_types)
    assert {member.value for member in EventType} <= declared


def test_every_type_the_projections_handle_is_a_member(db: Database) -> None:
    handled = {
        event_type
        for registered in db.store.registry.projections.values()
        for event_type in registered.projection.handled_types
    }
    assert handled <= {member.value for member in EventType}


def test_strings_become_members() -> None:
    event = Event(workflow_id="w", event_type="step_started")
    assert event.event_type is EventType.STEP_STARTED


def test_unknown_strings_stay_strings() -> None:
    event = Event(workflow_id="w", event_type="deploy_finished")
    assert event.event_type == "deploy_finished"
    assert not isinstance(event.event_type, EventType)


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_empty_or_non_string_types_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationError, match="event_type"):
        Event(workflow_id="w", event_type=bad)


def test_defaults_are_the_originals() -> None:
    before = datetime.now(UTC)
    event = Event(workflow_id="w", event_type=EventType.GATE_PASSED)
    assert (event.id, event.role, event.step_id, event.component_id, event.status) == (None, None, None, None, None)
    assert event.payload == {}
    assert event.timestamp.tzinfo is not None and before <= event.timestamp <= datetime.now(UTC)


def test_event_from_a_dict_and_back() -> None:
    data = {
        "id": 7, "workflow_id": "w", "event_type": "step_completed", "role": "r", "step_id": "s",
        "component_id": None, "status": "completed", "payload": {"output": {"n": 1}},
        "timestamp": "2025-01-01T00:00:00+00:00",
    }
    event = Event(**data)
    assert event.event_type is EventType.STEP_COMPLETED
    assert event.timestamp == datetime(2025, 1, 1, tzinfo=UTC)
    assert Event(**event.model_dump()) == event
    assert Event.model_validate_json(event.model_dump_json()) == event


def test_enum_statuses_are_stored_as_their_values(db: Database) -> None:
    event = Event(workflow_id="w", event_type="step_completed", step_id="s", status=StepStatus.COMPLETED)
    assert type(event.status) is str and event.status == "completed"
    db.append_event(event)
    assert db.get_events("w")[0].status == "completed"


def test_naive_timestamps_are_taken_as_utc(db: Database) -> None:
    """The original stored naive times as given, and every time it wrote was UTC."""
    event = Event(workflow_id="w", event_type="gate_passed", timestamp=datetime(2025, 1, 1, 9))
    assert event.timestamp == datetime(2025, 1, 1, 9, tzinfo=UTC)
    db.append_event(event)
    assert db.store.reader.fetchvalue("SELECT timestamp FROM events") == "2025-01-01T09:00:00.000000+00:00"


def test_timestamps_are_stored_in_utc(db: Database) -> None:
    tokyo = datetime(2025, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    db.append_event(Event(workflow_id="w", event_type="gate_passed", timestamp=tokyo))
    assert db.store.reader.fetchvalue("SELECT timestamp FROM events") == "2025-01-01T00:00:00.000000+00:00"
    assert db.get_events("w")[0].timestamp == tokyo


def test_events_are_immutable() -> None:
    event = Event(workflow_id="w", event_type="gate_passed")
    with pytest.raises(ValidationError):
        event.workflow_id = "other"  # type: ignore[misc]


def test_appending_an_undeclared_type_names_the_close_matches(db: Database) -> None:
    with pytest.raises(UnknownEventTypeError, match="gate_passed"):
        db.append_event(Event(workflow_id="w", event_type="gate_pased"))
    assert db.store.head() == 0


def test_append_event_takes_events_only(db: Database) -> None:
    with pytest.raises(TypeError, match="takes an Event"):
        db.append_event({"workflow_id": "w", "event_type": "gate_passed"})  # type: ignore[arg-type]


def test_read_events_carry_the_stores_additions(db: Database) -> None:
    db.append_event(Event(workflow_id="w", event_type="gate_passed", metadata={"correlation_id": "c-1"}))
    [event] = db.get_events("w")
    assert (event.version, event.metadata) == (1, {"correlation_id": "c-1"})
    assert event.event_id is not None and len(event.event_id) == 36


def test_a_single_type_filter_is_accepted(db: Database) -> None:
    db.append_event(Event(workflow_id="w", event_type="gate_passed"))
    db.append_event(Event(workflow_id="w", event_type="gate_failed"))
    assert [e.id for e in db.get_events("w", EventType.GATE_FAILED)] == [2]  # type: ignore[arg-type]
    assert [e.id for e in db.get_events("w", "gate_passed")] == [1]
