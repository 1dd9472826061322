"""``get_events`` builds its ``Event`` objects in bulk, without validating them again:
they must be the objects validation would give, and behave as such."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from evstore_supervisor import Database, Event, EventType

T0 = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _appended(db: Database) -> list[Event]:
    events = [
        Event(workflow_id="wf", event_type="step_started", role="r", step_id="s", timestamp=T0,
              payload={"gates": ["lint"], "context": {"nested": [1, {"deep": None}]}}),
        Event(workflow_id="wf", event_type=EventType.GATE_PASSED, status="ok", metadata={"trace": "t-1"},
              timestamp=T0),
        Event(workflow_id="wf", event_type="feature_created", payload={"title": None, "x": 1.5}, timestamp=T0),
        Event(workflow_id="other", event_type="gate_failed", timestamp=T0),
    ]
    db.append_events(events)
    with db.transaction() as conn:  # a raw row: defaults for everything the caller left out
        conn.execute("INSERT INTO events (workflow_id, event_type, payload) VALUES ('wf', 'a_newer_type', '{}')")
    return events


def test_read_events_equal_validated_events(db: Database) -> None:
    _appended(db)
    read = db.get_events("wf")
    assert [e.event_type for e in read] == [
        EventType.STEP_STARTED, EventType.GATE_PASSED, EventType.FEATURE_CREATED, "a_newer_type",
    ]
    for event in read:
        assert event == Event.model_validate(event.model_dump())
        assert event.model_fields_set == set(Event.model_fields)
    assert read[0].payload["context"] == {"nested": [1, {"deep": None}]}
    assert read[1].metadata == {"trace": "t-1"} and read[0].metadata == {}
    assert read[0].timestamp == T0 and read[0].version == 1 and read[0].event_id is not None


def test_read_events_are_independent_objects(db: Database) -> None:
    _appended(db)
    first, second, *_ = db.get_events("wf")
    first.metadata["mine"] = True
    first.payload["gates"].append("more")
    assert second.metadata == {"trace": "t-1"}
    assert db.get_events("wf")[0].payload["gates"] == ["lint"] and db.get_events("wf")[0].metadata == {}
    changed = first.model_copy(update={"status": "done"})
    assert changed.status == "done" and first.status is None
    assert "status" in changed.model_fields_set


def test_reading_leaves_the_garbage_collector_as_it_found_it(db: Database) -> None:
    _appended(db)
    assert gc.isenabled()
    db.get_events("wf")
    assert gc.isenabled()
    gc.disable()
    try:
        db.get_events("wf")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_type_filter_reads_only_those_types_in_order(db: Database) -> None:
    _appended(db)
    assert [e.event_type for e in db.get_events("wf", ["a_newer_type", EventType.STEP_STARTED])] == [
        EventType.STEP_STARTED, "a_newer_type",
    ]
    assert db.get_events("nobody") == []
