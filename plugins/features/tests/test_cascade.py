"""The cascade reactor across a whole store: what it appends to the log, and that the
projection applying those events gives the same tables live and after a rebuild."""

from __future__ import annotations

from typing import Any

import pytest

import evstore_features as ef
from evstore import EventStore, NewEvent
from evstore.testing import snapshot_tables

CASCADE_TYPES = ("phase_completed", "phase_failed", "feature_completed", "feature_failed")
Snapshot = dict[str, list[tuple[Any, ...]]]


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


def table_rows(store: EventStore) -> Snapshot:
    """Every row of every table the plugin owns."""
    return snapshot_tables(store, ef.TABLES)


def assert_rebuild_identical(store: EventStore) -> None:
    before, head = table_rows(store), store.head()
    store.rebuild()
    assert table_rows(store) == before
    assert store.head() == head


def test_completing_every_component_logs_one_phase_and_one_feature_completion(
    evstore_store: EventStore,
) -> None:
    plan(evstore_store, {"P1": ["C1", "C2"]})
    ef.complete_component(evstore_store, "C1")
    assert cascade_log(evstore_store) == []
    last = ef.complete_component(evstore_store, "C2", {"ok": True})
    assert cascade_log(evstore_store) == [
        ("phase_completed", "F", {"phase_id": "P1"}),
        ("feature_completed", "F", {"feature_id": "F"}),
    ]
    assert statuses(evstore_store) == {"F": "completed", "P1": "completed", "C1": "completed", "C2": "completed"}
    phase_event, feature_event = evstore_store.read_all(after=last)
    feature = ef.get_feature(evstore_store, "F")
    assert feature is not None and feature.completed_at == feature_event.timestamp
    trigger = evstore_store.read_all(after=last - 1, limit=1)[0]
    assert phase_event.metadata["causation_id"] == trigger.event_id
    assert feature_event.metadata["causation_id"] == phase_event.event_id
    assert feature_event.metadata["correlation_id"] == trigger.event_id
    assert_rebuild_identical(evstore_store)


def test_one_batch_completing_a_whole_phase_cascades_once(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1", "C2", "C3"]})
    evstore_store.append_many(
        NewEvent(workflow_id="F", event_type="component_completed", component_id=component_id)
        for component_id in ("C1", "C2", "C3")
    )
    assert cascade_types(evstore_store) == ["phase_completed", "feature_completed"]


def test_the_cascade_rolls_back_with_its_transaction(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"]})
    head = evstore_store.head()
    with pytest.raises(RuntimeError), evstore_store.transaction():
        ef.complete_component(evstore_store, "C1")
        assert cascade_types(evstore_store) == ["phase_completed", "feature_completed"]
        raise RuntimeError("abandon")
    assert evstore_store.head() == head
    assert statuses(evstore_store)["F"] == "planning"


def test_the_feature_completes_only_when_its_last_phase_does(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"], "P2": ["C2"]})
    ef.complete_component(evstore_store, "C1")
    assert cascade_log(evstore_store) == [("phase_completed", "F", {"phase_id": "P1"})]
    assert statuses(evstore_store)["F"] != "completed"
    ef.complete_component(evstore_store, "C2")
    assert cascade_types(evstore_store) == ["phase_completed", "phase_completed", "feature_completed"]


def test_a_failure_fails_the_phase_only_once_every_component_has_ended(
    evstore_store: EventStore,
) -> None:
    plan(evstore_store, {"P1": ["C1", "C2"], "P2": ["C3"]})
    ef.fail_component(evstore_store, "C1", "boom")
    assert cascade_log(evstore_store) == []
    ef.complete_component(evstore_store, "C2")
    assert cascade_log(evstore_store) == [("phase_failed", "F", {"phase_id": "P1"})]
    assert statuses(evstore_store)["F"] != "failed"
    ef.complete_component(evstore_store, "C3")
    assert cascade_types(evstore_store) == ["phase_failed", "phase_completed", "feature_failed"]
    assert statuses(evstore_store) == {
        "F": "failed", "P1": "failed", "P2": "completed", "C1": "failed", "C2": "completed", "C3": "completed"
    }
    assert_rebuild_identical(evstore_store)


def test_a_new_component_reopens_and_completing_it_completes_again(
    evstore_store: EventStore,
) -> None:
    plan(evstore_store, {"P1": ["C1"]})
    ef.complete_component(evstore_store, "C1")
    ef.create_component(evstore_store, "C2", "P1", "late addition")
    assert statuses(evstore_store)["P1"] == statuses(evstore_store)["F"] == "in_progress"
    feature = ef.get_feature(evstore_store, "F")
    assert feature is not None and feature.completed_at is None
    ef.complete_component(evstore_store, "C2")
    assert cascade_types(evstore_store) == ["phase_completed", "feature_completed"] * 2
    feature = ef.get_feature(evstore_store, "F")
    last_completion = evstore_store.read_all(types=["feature_completed"])[-1]
    assert feature is not None and feature.completed_at == last_completion.timestamp
    assert_rebuild_identical(evstore_store)


def test_a_retried_component_turns_a_failed_phase_and_feature_into_completed(
    evstore_store: EventStore,
) -> None:
    plan(evstore_store, {"P1": ["C1"]})
    ef.fail_component(evstore_store, "C1", "boom")
    assert statuses(evstore_store)["F"] == "failed"
    ef.start_component(evstore_store, "C1")
    assert statuses(evstore_store)["P1"] == statuses(evstore_store)["F"] == "in_progress"
    ef.complete_component(evstore_store, "C1")
    assert cascade_types(evstore_store) == [
        "phase_failed", "feature_failed", "phase_completed", "feature_completed"
    ]
    assert_rebuild_identical(evstore_store)


def test_a_failed_component_marked_completed_by_hand_completes_the_failed_phase(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"]})
    ef.fail_component(evstore_store, "C1", "boom")
    ef.update_component(evstore_store, "C1", ef.ComponentStatus.COMPLETED, output={"fixed": True})
    assert statuses(evstore_store) == {"F": "completed", "P1": "completed", "C1": "completed"}


def test_an_empty_phase_never_completes_by_cascade(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"], "EMPTY": []})
    ef.complete_component(evstore_store, "C1")
    assert cascade_log(evstore_store) == [("phase_completed", "F", {"phase_id": "P1"})]
    assert statuses(evstore_store)["EMPTY"] == "pending"
    assert statuses(evstore_store)["F"] != "completed"


def test_a_feature_whose_only_phase_is_empty_never_completes_by_cascade(evstore_store: EventStore) -> None:
    ef.create_feature(evstore_store, "F", "Nothing planned")
    ef.create_phase(evstore_store, "P1", "F", "empty", 1)
    ef.update_phase_status(evstore_store, "P1", "in_progress")
    assert cascade_log(evstore_store) == []


def test_a_phase_completed_by_hand_can_complete_its_feature(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"], "EMPTY": []})
    ef.complete_component(evstore_store, "C1")
    ef.update_phase_status(evstore_store, "EMPTY", ef.PhaseStatus.COMPLETED)
    assert cascade_types(evstore_store) == ["phase_completed", "feature_completed"]
    assert statuses(evstore_store)["F"] == "completed"


def test_a_phase_failed_by_hand_fails_its_feature_once_all_phases_ended(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"]})
    ef.update_phase_status(evstore_store, "P1", "failed")
    assert cascade_log(evstore_store) == [("feature_failed", "F", {"feature_id": "F"})]


def test_a_status_set_by_hand_on_the_feature_is_not_overridden(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1", "C2"]})
    ef.complete_component(evstore_store, "C1")
    ef.complete_component(evstore_store, "C2")
    ef.update_feature_status(evstore_store, "F", ef.FeatureStatus.REVIEW)
    ef.update_component(evstore_store, "C1", "completed")  # re-completing changes nothing
    assert statuses(evstore_store)["F"] == "review"
    assert len(cascade_log(evstore_store)) == 2


def test_completing_an_already_completed_component_appends_no_cascade(evstore_store: EventStore) -> None:
    plan(evstore_store, {"P1": ["C1"]})
    ef.complete_component(evstore_store, "C1")
    ef.complete_component(evstore_store, "C1")
    assert len(cascade_log(evstore_store)) == 2


def test_rebuild_never_reruns_the_reactor(
    evstore_store: EventStore,
) -> None:
    plan(evstore_store, {"P1": ["C1", "C2"], "P2": ["C3"]})
    for component_id in ("C1", "C2", "C3"):
        ef.complete_component(evstore_store, component_id)
    log_before = [e.row() for e in evstore_store.read_all()]
    rows_before = table_rows(evstore_store)
    assert evstore_store.rebuild() == len(log_before)
    assert [e.row() for e in evstore_store.read_all()] == log_before
    assert table_rows(evstore_store) == rows_before
