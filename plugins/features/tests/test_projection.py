"""Handler tests: what each event type does to the features, phases and components rows.

Events are appended raw (not through the command helpers) so each test pins down the
projection's contract for that event shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from evstore import EventStore, NewEvent

WHEN = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
WHEN_TEXT = "2025-01-02T03:04:05.678901+00:00"


def append(
    store: EventStore, event_type: str, *, workflow_id: str = "F", component_id: str | None = None,
    timestamp: datetime | None = None, **payload: Any,
) -> int:
    return store.append(
        NewEvent(workflow_id=workflow_id, event_type=event_type, component_id=component_id,
                 payload=payload, timestamp=timestamp)
    )


def feature_row(store: EventStore, feature_id: str = "F") -> Any:
    return store.reader.fetchone(
        "SELECT id, title, description, status, created_at, completed_at FROM features WHERE id = ?",
        (feature_id,),
    )


def feature_state(store: EventStore, feature_id: str = "F") -> tuple[str, str | None]:
    """(status, completed_at)"""
    row = feature_row(store, feature_id)
    return row[3], row[5]


def phase_row(store: EventStore, phase_id: str = "P1") -> Any:
    return store.reader.fetchone(
        "SELECT id, feature_id, title, sequence, status, interfaces, created_at, created_position "
        "FROM phases WHERE id = ?",
        (phase_id,),
    )


def component_row(store: EventStore, component_id: str = "C1") -> Any:
    return store.reader.fetchone(
        "SELECT id, phase_id, title, description, files, depends_on, status, assigned_role, output, "
        "error, created_at, feature_id, created_position FROM components WHERE id = ?",
        (component_id,),
    )


def status_of(store: EventStore, table: str, row_id: str) -> str:
    value = store.reader.fetchvalue(f"SELECT status FROM {table} WHERE id = ?", (row_id,))
    assert isinstance(value, str)
    return value


def plan(store: EventStore, components: tuple[str, ...] = ("C1",)) -> None:
    """Feature F with phase P1 holding ``components``."""
    append(store, "feature_created", title="Login")
    append(store, "phase_created", id="P1", feature_id="F", title="Backend", sequence=1)
    for component_id in components:
        append(store, "component_created", component_id=component_id, phase_id="P1", title=component_id)


# --- feature_created ------------------------------------------------------------------


def test_feature_created_inserts_a_planning_feature_stamped_with_the_event_time(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login", description="Users sign in", timestamp=WHEN)
    assert feature_row(evstore_store) == ("F", "Login", "Users sign in", "planning", WHEN_TEXT, None)


def test_feature_created_takes_the_id_from_the_payload_when_given(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", workflow_id="stream", id="F9", title="Search")
    assert feature_row(evstore_store, "F9")[1] == "Search"
    assert feature_row(evstore_store, "stream") is None


def test_feature_created_again_corrects_title_and_description_only(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login", timestamp=WHEN)
    append(evstore_store, "feature_status_changed", status="review")
    append(evstore_store, "feature_created", title="Sign-in", description="fixed")
    assert feature_row(evstore_store) == ("F", "Sign-in", "fixed", "review", WHEN_TEXT, None)


# --- phase_created --------------------------------------------------------------------


def test_phase_created_inserts_a_pending_phase_with_compact_interfaces(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login")
    position = append(
        evstore_store, "phase_created", id="P1", feature_id="F", title="Backend", sequence=2, timestamp=WHEN,
        interfaces=[{"name": "auth", "type": "http", "definition": "POST /login"}],
    )
    assert phase_row(evstore_store) == (
        "P1", "F", "Backend", 2, "pending",
        '[{"name":"auth","type":"http","definition":"POST /login","locked":false}]',
        WHEN_TEXT, position,
    )


def test_phase_created_accepts_phase_id_and_defaults_the_feature_to_the_workflow(evstore_store: EventStore) -> None:
    append(evstore_store, "phase_created", workflow_id="F2", phase_id="P7", title="UI", sequence=1)
    row = phase_row(evstore_store, "P7")
    assert (row[1], row[5]) == ("F2", "[]")


def test_phase_created_again_corrects_title_sequence_and_interfaces(evstore_store: EventStore) -> None:
    plan(evstore_store, ())
    append(evstore_store, "phase_status_changed", phase_id="P1", status="in_progress")
    append(evstore_store, "phase_created", id="P1", feature_id="OTHER", title="Renamed", sequence=5,
           interfaces=[{"name": "x", "type": "t", "definition": "d", "locked": True}])
    row = phase_row(evstore_store)
    assert row[1:6] == ("F", "Renamed", 5, "in_progress",
                        '[{"name":"x","type":"t","definition":"d","locked":true}]')


def test_a_new_phase_reopens_a_completed_feature(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_completed", component_id="C1")
    assert status_of(evstore_store, "features", "F") == "completed"
    append(evstore_store, "phase_created", id="P2", feature_id="F", title="More", sequence=2)
    assert feature_state(evstore_store) == ("in_progress", None)


# --- component_created ----------------------------------------------------------------


def test_component_created_inserts_a_pending_component_in_its_phases_feature(evstore_store: EventStore) -> None:
    plan(evstore_store, ())
    position = append(
        evstore_store, "component_created", workflow_id="elsewhere", component_id="C1", phase_id="P1",
        title="Model", description="user table", files=["models.py", "db.py"], depends_on=["C0"],
        assigned_role="implementer", timestamp=WHEN,
    )
    assert component_row(evstore_store) == (
        "C1", "P1", "Model", "user table", '["models.py","db.py"]', '["C0"]', "pending",
        "implementer", None, None, WHEN_TEXT, "F", position,
    )


def test_component_created_without_a_known_phase_uses_the_payload_feature(evstore_store: EventStore) -> None:
    append(evstore_store, "component_created", workflow_id="W", component_id="C1", phase_id="nowhere",
           feature_id="F3", title="t")
    append(evstore_store, "component_created", workflow_id="W", component_id="C2", phase_id="nowhere", title="t")
    assert component_row(evstore_store, "C1")[11] == "F3"
    assert component_row(evstore_store, "C2")[11] == "W"


def test_a_new_component_reopens_its_completed_phase_and_feature(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_completed", component_id="C1")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "completed", "completed"
    )
    append(evstore_store, "component_created", component_id="C2", phase_id="P1", title="late")
    assert status_of(evstore_store, "phases", "P1") == "in_progress"
    assert feature_state(evstore_store) == ("in_progress", None)


def test_a_new_component_reopens_a_failed_phase_and_feature(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_failed", component_id="C1", error="boom")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == ("failed", "failed")
    append(evstore_store, "component_created", component_id="C2", phase_id="P1", title="fix")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "in_progress", "in_progress")


def test_a_new_component_leaves_a_pending_phase_and_planning_feature_alone(evstore_store: EventStore) -> None:
    plan(evstore_store)
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "pending", "planning"
    )


def test_component_created_again_corrects_fields_but_keeps_phase_status_and_order(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1",))
    first_position = component_row(evstore_store)[12]
    append(evstore_store, "component_started", component_id="C1")
    append(evstore_store, "component_created", component_id="C1", phase_id="P9", title="New", description="d",
           files=["x"], depends_on=["C5"], assigned_role="tester")
    assert component_row(evstore_store)[:8] == ("C1", "P1", "New", "d", '["x"]', '["C5"]', "implementing", "tester")
    assert component_row(evstore_store)[12] == first_position


# --- component lifecycle ----------------------------------------------------------------


def test_component_started_sets_implementing_and_starts_phase_and_feature(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1", "C2"))
    append(evstore_store, "component_started", component_id="C1")
    assert status_of(evstore_store, "components", "C1") == "implementing"
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "in_progress", "in_progress")


def test_component_started_leaves_a_feature_in_review(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "feature_status_changed", status="review")
    append(evstore_store, "component_started", component_id="C1")
    assert status_of(evstore_store, "features", "F") == "review"


def test_component_started_after_a_failure_reopens_phase_and_feature(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_failed", component_id="C1", error="boom")
    append(evstore_store, "component_started", component_id="C1")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "in_progress", "in_progress")


def test_component_completed_stores_the_output_as_compact_json(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1", "C2"))
    append(evstore_store, "component_completed", component_id="C1", output={"files": ["a.py"], "ok": True})
    append(evstore_store, "component_completed", component_id="C2")
    status, output = component_row(evstore_store, "C1")[6], component_row(evstore_store, "C1")[8]
    assert (status, output) == ("completed", '{"files":["a.py"],"ok":true}')
    assert component_row(evstore_store, "C2")[8] == "{}"


def test_component_failed_stores_the_error(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1", "C2"))
    append(evstore_store, "component_failed", component_id="C1", error="tests failed")
    row = component_row(evstore_store)
    assert (row[6], row[8], row[9]) == ("failed", None, "tests failed")


def test_component_status_changed_sets_status_output_and_error_as_given(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1", "C2"))
    append(evstore_store, "component_status_changed", component_id="C1", status="testing", output={"n": 1},
           error="flaky")
    row = component_row(evstore_store)
    assert (row[6], row[8], row[9]) == ("testing", '{"n":1}', "flaky")
    append(evstore_store, "component_status_changed", component_id="C1", status="review")
    row = component_row(evstore_store)
    assert (row[6], row[8], row[9]) == ("review", None, None)


def test_component_status_changed_to_active_starts_the_phase(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1", "C2"))
    append(evstore_store, "component_status_changed", component_id="C1", status="testing")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "in_progress", "in_progress")


def test_component_status_changed_to_pending_reopens_an_ended_phase(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_completed", component_id="C1")
    append(evstore_store, "component_status_changed", component_id="C1", status="pending")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "in_progress", "in_progress")


def test_component_status_changed_to_pending_does_not_start_a_pending_phase(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_status_changed", component_id="C1", status="pending")
    assert (status_of(evstore_store, "phases", "P1"), status_of(evstore_store, "features", "F")) == (
        "pending", "planning"
    )


def test_component_dependencies_set_replaces_depends_on(evstore_store: EventStore) -> None:
    plan(evstore_store, ("C1", "C2", "C3"))
    append(evstore_store, "component_dependencies_set", component_id="C3", depends_on=["C1"])
    append(evstore_store, "component_dependencies_set", component_id="C3", depends_on=["C2", "C1"])
    assert component_row(evstore_store, "C3")[5] == '["C2","C1"]'


# --- status changes and cascade events ---------------------------------------------------


def test_feature_status_changed_sets_status_and_completed_at_only_when_completed(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login")
    append(evstore_store, "feature_status_changed", status="completed", timestamp=WHEN)
    assert feature_state(evstore_store) == ("completed", WHEN_TEXT)
    append(evstore_store, "feature_status_changed", status="review")
    assert feature_state(evstore_store) == ("review", None)


def test_feature_status_changed_may_name_the_feature_in_the_payload(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login")
    append(evstore_store, "feature_status_changed", workflow_id="other", feature_id="F", status="failed")
    assert status_of(evstore_store, "features", "F") == "failed"


def test_phase_status_changed_sets_the_status(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "phase_status_changed", phase_id="P1", status="in_progress")
    assert status_of(evstore_store, "phases", "P1") == "in_progress"


def test_phase_status_changed_to_unfinished_reopens_an_ended_feature(evstore_store: EventStore) -> None:
    plan(evstore_store)
    append(evstore_store, "component_completed", component_id="C1")
    append(evstore_store, "phase_status_changed", phase_id="P1", status="pending")
    assert feature_state(evstore_store) == ("in_progress", None)


def test_phase_completed_and_phase_failed_set_the_status(evstore_store: EventStore) -> None:
    plan(evstore_store, ())
    append(evstore_store, "phase_completed", phase_id="P1")
    assert status_of(evstore_store, "phases", "P1") == "completed"
    append(evstore_store, "phase_failed", phase_id="P1")
    assert status_of(evstore_store, "phases", "P1") == "failed"


def test_feature_completed_stamps_completed_at_with_its_own_timestamp(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login")
    append(evstore_store, "feature_completed", timestamp=WHEN)
    assert feature_state(evstore_store) == ("completed", WHEN_TEXT)


def test_feature_completed_uses_the_payload_feature_id_over_the_workflow(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", workflow_id="F1", title="a")
    append(evstore_store, "feature_created", workflow_id="F2", title="b")
    append(evstore_store, "feature_completed", workflow_id="F1", feature_id="F2")
    assert (status_of(evstore_store, "features", "F1"), status_of(evstore_store, "features", "F2")) == (
        "planning", "completed")


def test_feature_failed_sets_failed_and_clears_completed_at(evstore_store: EventStore) -> None:
    append(evstore_store, "feature_created", title="Login")
    append(evstore_store, "feature_completed")
    append(evstore_store, "feature_failed")
    assert feature_state(evstore_store) == ("failed", None)


def test_events_naming_unknown_ids_change_nothing_and_keep_the_projection_ok(evstore_store: EventStore) -> None:
    plan(evstore_store)
    before = evstore_store.reader.fetchall("SELECT * FROM components ORDER BY id")
    append(evstore_store, "component_started", component_id="ghost")
    append(evstore_store, "component_completed", component_id="ghost")
    append(evstore_store, "component_failed", component_id="ghost")
    append(evstore_store, "component_status_changed", component_id="ghost", status="testing")
    append(evstore_store, "component_dependencies_set", component_id="ghost", depends_on=["C1"])
    append(evstore_store, "phase_status_changed", phase_id="ghost", status="completed")
    append(evstore_store, "phase_completed", phase_id="ghost")
    append(evstore_store, "feature_completed", workflow_id="ghost")
    assert evstore_store.reader.fetchall("SELECT * FROM components ORDER BY id") == before
    assert evstore_store.reader.fetchvalue("SELECT COUNT(*) FROM features") == 1
    assert [s.status for s in evstore_store.projection_status()] == ["ok"]
