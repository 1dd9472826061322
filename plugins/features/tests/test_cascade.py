"""The cascade reactor across a whole store: what it appends to the log, and that the
projection applying those events gives the same tables live and after a rebuild."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import evstore_features as ef
from evstore import EventStore, NewEvent

CASCADE_TYPES = ("phase_completed", "phase_failed", "feature_completed", "feature_failed")
Rows = dict[str, list[tuple[Any, ...]]]


def cascade_log(store: EventStore) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.event_type, e.workflow_id, e.payload) for e in store.read_all(types=CASCADE_TYPES)]


def cascade_types(store: EventStore) -> list[str]:
    return [event_type for event_type, _, _ in cascade_log(store)]


def statuses(store: EventStore) -> dict[str, str]:
    rows = store.reader.fetchall(
        "SELECT id, status FROM features UNION ALL SELECT id, status FROM phases "
        "UNION ALL SELECT id, status FROM components"
    )
    return dict(rows)


def plan(store: EventStore, phases: dict[str, list[str]]) -> None:
    """Feature F with the given phases (in sequence order) and their components."""
    ef.create_feature(store, "F", "Login")
    for sequence, (phase_id, components) in enumerate(phases.items(), start=1):
        ef.create_phase(store, phase_id, "F", phase_id, sequence)
        for component_id in components:
            ef.create_component(store, component_id, phase_id, component_id)


def assert_rebuild_identical(store: EventStore, table_rows: Callable[[EventStore], Rows]) -> None:
    before, head = table_rows(store), store.head()
    store.rebuild()
    assert table_rows(store) == before
    assert store.head() == head


def test_completing_every_component_logs_one_phase_and_one_feature_completion(
    store: EventStore, table_rows: Callable[[EventStore], Rows]
) -> None:
    plan(store, {"P1": ["C1", "C2"]})
    ef.complete_component(store, "C1")
    assert cascade_log(store) == []
    last = ef.complete_component(store, "C2", {"ok": True})
    assert cascade_log(store) == [
        ("phase_completed", "F", {"phase_id": "P1"}),
        ("feature_completed", "F", {"feature_id": "F"}),
    ]
    assert statuses(store) == {"F": "completed", "P1": "completed", "C1": "completed", "C2": "completed"}
    phase_event, feature_event = store.read_all(after=last)
    feature = ef.get_feature(store, "F")
    assert feature is not None and feature.completed_at == feature_event.timestamp
    trigger = store.read_all(after=last - 1, limit=1)[0]
    assert phase_event.metadata["causation_id"] == trigger.event_id
    assert feature_event.metadata["causation_id"] == phase_event.event_id
    assert feature_event.metadata["correlation_id"] == trigger.event_id
    assert_rebuild_identical(store, table_rows)


def test_one_batch_completing_a_whole_phase_cascades_once(store: EventStore) -> None:
    plan(store, {"P1": ["C1", "C2", "C3"]})
    store.append_many(
        NewEvent(workflow_id="F", event_type="component_completed", component_id=component_id)
        for component_id in ("C1", "C2", "C3")
    )
    assert cascade_types(store) == ["phase_completed", "feature_completed"]


def test_the_cascade_rolls_back_with_its_transaction(store: EventStore) -> None:
    plan(store, {"P1": ["C1"]})
    head = store.head()
    with pytest.raises(RuntimeError), store.transaction():
        ef.complete_component(store, "C1")
        assert cascade_types(store) == ["phase_completed", "feature_completed"]
        raise RuntimeError("abandon")
    assert store.head() == head
    assert statuses(store)["F"] == "planning"


def test_the_feature_completes_only_when_its_last_phase_does(store: EventStore) -> None:
    plan(store, {"P1": ["C1"], "P2": ["C2"]})
    ef.complete_component(store, "C1")
    assert cascade_log(store) == [("phase_completed", "F", {"phase_id": "P1"})]
    assert statuses(store)["F"] != "completed"
    ef.complete_component(store, "C2")
    assert cascade_types(store) == ["phase_completed", "phase_completed", "feature_completed"]


def test_a_failure_fails_the_phase_only_once_every_component_has_ended(
    store: EventStore, table_rows: Callable[[EventStore], Rows]
) -> None:
    plan(store, {"P1": ["C1", "C2"], "P2": ["C3"]})
    ef.fail_component(store, "C1", "boom")
    assert cascade_log(store) == []
    ef.complete_component(store, "C2")
    assert cascade_log(store) == [("phase_failed", "F", {"phase_id": "P1"})]
    assert statuses(store)["F"] != "failed"
    ef.complete_component(store, "C3")
    assert cascade_types(store) == ["phase_failed", "phase_completed", "feature_failed"]
    assert statuses(store) == {
        "F": "failed", "P1": "failed", "P2": "completed", "C1": "failed", "C2": "completed", "C3": "completed"
    }
    assert_rebuild_identical(store, table_rows)


def test_a_new_component_reopens_and_completing_it_completes_again(
    store: EventStore, table_rows: Callable[[EventStore], Rows]
) -> None:
    plan(store, {"P1": ["C1"]})
    ef.complete_component(store, "C1")
    ef.create_component(store, "C2", "P1", "late addition")
    assert statuses(store)["P1"] == statuses(store)["F"] == "in_progress"
    feature = ef.get_feature(store, "F")
    assert feature is not None and feature.completed_at is None
    ef.complete_component(store, "C2")
    assert cascade_types(store) == ["phase_completed", "feature_completed"] * 2
    feature, last_completion = ef.get_feature(store, "F"), store.read_all(types=["feature_completed"])[-1]
    assert feature is not None and feature.completed_at == last_completion.timestamp
    assert_rebuild_identical(store, table_rows)


def test_a_retried_component_turns_a_failed_phase_and_feature_into_completed(
    store: EventStore, table_rows: Callable[[EventStore], Rows]
) -> None:
    plan(store, {"P1": ["C1"]})
    ef.fail_component(store, "C1", "boom")
    assert statuses(store)["F"] == "failed"
    ef.start_component(store, "C1")
    assert statuses(store)["P1"] == statuses(store)["F"] == "in_progress"
    ef.complete_component(store, "C1")
    assert cascade_types(store) == [
        "phase_failed", "feature_failed", "phase_completed", "feature_completed"
    ]
    assert_rebuild_identical(store, table_rows)


def test_a_failed_component_marked_completed_by_hand_completes_the_failed_phase(store: EventStore) -> None:
    plan(store, {"P1": ["C1"]})
    ef.fail_component(store, "C1", "boom")
    ef.update_component(store, "C1", ef.ComponentStatus.COMPLETED, output={"fixed": True})
    assert statuses(store) == {"F": "completed", "P1": "completed", "C1": "completed"}


def test_an_empty_phase_never_completes_by_cascade(store: EventStore) -> None:
    plan(store, {"P1": ["C1"], "EMPTY": []})
    ef.complete_component(store, "C1")
    assert cascade_log(store) == [("phase_completed", "F", {"phase_id": "P1"})]
    assert statuses(store)["EMPTY"] == "pending"
    assert statuses(store)["F"] != "completed"


def test_a_feature_whose_only_phase_is_empty_never_completes_by_cascade(store: EventStore) -> None:
    ef.create_feature(store, "F", "Nothing planned")
    ef.create_phase(store, "P1", "F", "empty", 1)
    ef.update_phase_status(store, "P1", "in_progress")
    assert cascade_log(store) == []


def test_a_phase_completed_by_hand_can_complete_its_feature(store: EventStore) -> None:
    plan(store, {"P1": ["C1"], "EMPTY": []})
    ef.complete_component(store, "C1")
    ef.update_phase_status(store, "EMPTY", ef.PhaseStatus.COMPLETED)
    assert cascade_types(store) == ["phase_completed", "feature_completed"]
    assert statuses(store)["F"] == "completed"


def test_a_phase_failed_by_hand_fails_its_feature_once_all_phases_ended(store: EventStore) -> None:
    plan(store, {"P1": ["C1"]})
    ef.update_phase_status(store, "P1", "failed")
    assert cascade_log(store) == [("feature_failed", "F", {"feature_id": "F"})]


def test_a_status_set_by_hand_on_the_feature_is_not_overridden(store: EventStore) -> None:
    plan(store, {"P1": ["C1", "C2"]})
    ef.complete_component(store, "C1")
    ef.complete_component(store, "C2")
    ef.update_feature_status(store, "F", ef.FeatureStatus.REVIEW)
    ef.update_component(store, "C1", "completed")  # re-completing changes nothing
    assert statuses(store)["F"] == "review"
    assert len(cascade_log(store)) == 2


def test_completing_an_already_completed_component_appends_no_cascade(store: EventStore) -> None:
    plan(store, {"P1": ["C1"]})
    ef.complete_component(store, "C1")
    ef.complete_component(store, "C1")
    assert len(cascade_log(store)) == 2


def test_rebuild_never_reruns_the_reactor(
    store: EventStore, table_rows: Callable[[EventStore], Rows]
) -> None:
    plan(store, {"P1": ["C1", "C2"], "P2": ["C3"]})
    for component_id in ("C1", "C2", "C3"):
        ef.complete_component(store, component_id)
    log_before = [e.row() for e in store.read_all()]
    rows_before = table_rows(store)
    assert store.rebuild() == len(log_before)
    assert [e.row() for e in store.read_all()] == log_before
    assert table_rows(store) == rows_before
