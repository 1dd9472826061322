"""The query functions and the command helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

import evstore_features as ef
from evstore import NO_STREAM, ConcurrencyError, EventStore


def ids(items: list[ef.Component] | list[ef.Phase]) -> list[str]:
    return [item.id for item in items]


def plan(store: EventStore, components: dict[str, list[str]] | None = None) -> None:
    """Feature F with one phase P1 and components given as {id: depends_on}."""
    ef.create_feature(store, "F", "Login")
    ef.create_phase(store, "P1", "F", "Backend", 1)
    for component_id, depends_on in (components or {}).items():
        ef.create_component(store, component_id, "P1", component_id, depends_on=depends_on)


# --- queries ------------------------------------------------------------------------------


def test_get_feature_returns_the_model_with_aware_times(store: EventStore) -> None:
    ef.create_feature(store, "F", "Login", "Users sign in")
    feature = ef.get_feature(store, "F")
    assert feature is not None
    assert (feature.id, feature.title, feature.description, feature.status) == (
        "F", "Login", "Users sign in", ef.FeatureStatus.PLANNING)
    assert feature.created_at.tzinfo is not None and feature.completed_at is None
    assert feature.created_at == store.read("F")[0].timestamp


def test_get_queries_return_none_or_empty_for_unknown_ids(store: EventStore) -> None:
    assert ef.get_feature(store, "nope") is None
    assert ef.get_phase(store, "nope") is None
    assert ef.get_component(store, "nope") is None
    assert ef.get_phases(store, "nope") == []
    assert ef.get_components(store, "nope") == []
    assert ef.get_ready_components(store, "nope") == []


def test_get_phase_and_get_phases_by_sequence_with_interfaces(store: EventStore) -> None:
    ef.create_feature(store, "F", "Login")
    ef.create_phase(store, "P2", "F", "Frontend", 2)
    auth = ef.Interface(name="auth", type="http", definition="POST")
    ef.create_phase(store, "P1", "F", "Backend", 1, [auth])
    ef.create_phase(store, "X", "OTHER", "Elsewhere", 0)
    assert ids(ef.get_phases(store, "F")) == ["P1", "P2"]
    phase = ef.get_phase(store, "P1")
    assert phase is not None and phase.status is ef.PhaseStatus.PENDING
    assert phase.interfaces == [ef.Interface(name="auth", type="http", definition="POST", locked=False)]
    assert phase.created_at.tzinfo is not None


def test_get_component_returns_every_field(store: EventStore) -> None:
    plan(store)
    ef.create_component(store, "C1", "P1", "Model", files=["m.py"], depends_on=["C0"],
                        assigned_role="tester", description="table")
    ef.complete_component(store, "C1", {"lines": 12})
    component = ef.get_component(store, "C1")
    assert component is not None
    assert component.model_dump(exclude={"created_at"}) == {
        "id": "C1", "phase_id": "P1", "title": "Model", "description": "table", "files": ["m.py"],
        "depends_on": ["C0"], "status": ef.ComponentStatus.COMPLETED, "assigned_role": "tester",
        "output": {"lines": 12}, "error": None,
    }


def test_get_components_orders_by_phase_sequence_then_creation_not_id_text(store: EventStore) -> None:
    ef.create_feature(store, "F", "Login")
    ef.create_phase(store, "LATE", "F", "second", 2)
    for component_id in ("C2", "C10", "C1"):
        ef.create_component(store, component_id, "LATE", component_id)
    ef.create_phase(store, "EARLY", "F", "first", 1)
    ef.create_component(store, "C99", "EARLY", "first work")
    assert ids(ef.get_components(store, "F")) == ["C99", "C2", "C10", "C1"]


def test_get_components_by_status_spans_features_in_creation_order(store: EventStore) -> None:
    for feature_id in ("F1", "F2"):
        ef.create_feature(store, feature_id, feature_id)
        ef.create_phase(store, f"{feature_id}-P", feature_id, "p", 1)
    ef.create_component(store, "B", "F2-P", "b")
    ef.create_component(store, "A", "F1-P", "a")
    ef.create_component(store, "Z", "F1-P", "z")
    ef.start_component(store, "Z")
    assert ids(ef.get_components_by_status(store, "pending")) == ["B", "A"]
    assert ids(ef.get_components_by_status(store, ef.ComponentStatus.IMPLEMENTING)) == ["Z"]
    with pytest.raises(ValueError):
        ef.get_components_by_status(store, "done")


def test_ready_components_are_pending_with_every_dependency_completed(store: EventStore) -> None:
    plan(store, {"C1": [], "C2": ["C1"], "C3": ["C1", "C2"], "C4": ["ghost"], "C5": []})
    assert ids(ef.get_ready_components(store, "F")) == ["C1", "C5"]
    ef.start_component(store, "C5")
    ef.complete_component(store, "C1")
    assert ids(ef.get_ready_components(store, "F")) == ["C2"]
    ef.complete_component(store, "C2")
    assert ids(ef.get_ready_components(store, "F")) == ["C3"]


def test_a_dependency_in_another_feature_counts_when_completed(store: EventStore) -> None:
    plan(store, {"C1": ["OTHER-C"]})
    ef.create_feature(store, "G", "Other")
    ef.create_phase(store, "GP", "G", "p", 1)
    ef.create_component(store, "OTHER-C", "GP", "o")
    assert ef.get_ready_components(store, "F") == []
    ef.complete_component(store, "OTHER-C")
    assert ids(ef.get_ready_components(store, "F")) == ["C1"]


def test_a_feature_without_components_or_with_ready_work_is_not_blocked(store: EventStore) -> None:
    assert not ef.is_feature_blocked(store, "unknown")
    plan(store)
    assert not ef.is_feature_blocked(store, "F")
    ef.create_component(store, "C1", "P1", "c")
    assert not ef.is_feature_blocked(store, "F")


def test_a_feature_waiting_only_on_a_failed_dependency_is_blocked(store: EventStore) -> None:
    plan(store, {"C1": [], "C2": ["C1"], "C3": []})
    ef.fail_component(store, "C1", "boom")
    ef.start_component(store, "C3")
    assert not ef.is_feature_blocked(store, "F")  # C3 can still finish
    ef.complete_component(store, "C3")
    assert ef.is_feature_blocked(store, "F")
    ef.update_component(store, "C1", "completed")
    assert not ef.is_feature_blocked(store, "F")


def test_a_dependency_cycle_or_unknown_dependency_blocks(store: EventStore) -> None:
    plan(store, {"C1": ["C2"], "C2": ["C1"]})
    assert ef.is_feature_blocked(store, "F")
    ef.set_component_dependencies(store, "C2", ["ghost"])
    assert ef.is_feature_blocked(store, "F")
    ef.set_component_dependencies(store, "C2", [])
    assert not ef.is_feature_blocked(store, "F")


def test_a_finished_feature_is_not_blocked(store: EventStore) -> None:
    plan(store, {"C1": [], "C2": []})
    ef.complete_component(store, "C1")
    ef.fail_component(store, "C2")
    assert not ef.is_feature_blocked(store, "F")


# --- commands -----------------------------------------------------------------------------


def test_commands_return_the_position_of_the_event_they_append(store: EventStore) -> None:
    positions = [
        ef.create_feature(store, "F", "Login"),
        ef.create_phase(store, "P1", "F", "p", 1),
        ef.create_component(store, "C1", "P1", "c"),
        ef.start_component(store, "C1"),
        ef.set_component_dependencies(store, "C1", []),
        ef.update_component(store, "C1", "testing"),
        ef.fail_component(store, "C1", "boom"),
    ]
    assert positions == [1, 2, 3, 4, 5, 6, 7]
    assert [e.workflow_id for e in store.read_all()] == ["F"] * 9  # + phase_failed, feature_failed


def test_create_component_finds_the_feature_from_the_phase(store: EventStore) -> None:
    plan(store)
    position = ef.create_component(store, "C1", "P1", "c")
    event = store.read_all(after=position - 1)[0]
    assert (event.workflow_id, event.component_id, event.payload["feature_id"]) == ("F", "C1", "F")
    assert event.payload["assigned_role"] == "implementer"


def test_create_component_in_an_unknown_phase_raises_and_appends_nothing(store: EventStore) -> None:
    plan(store)
    head = store.head()
    with pytest.raises(ValueError, match="phase 'nope' not found"):
        ef.create_component(store, "C1", "nope", "c")
    assert store.head() == head


def test_create_component_with_a_feature_id_needs_no_phase_lookup(store: EventStore) -> None:
    ef.create_component(store, "C1", "later", "c", feature_id="F")
    component = ef.get_component(store, "C1")
    assert component is not None and component.phase_id == "later"


def test_commands_on_unknown_ids_raise_and_append_nothing(store: EventStore) -> None:
    head = store.head()
    calls: list[Callable[[], int]] = [
        lambda: ef.start_component(store, "nope"),
        lambda: ef.complete_component(store, "nope"),
        lambda: ef.fail_component(store, "nope"),
        lambda: ef.update_component(store, "nope", "testing"),
        lambda: ef.set_component_dependencies(store, "nope", []),
        lambda: ef.update_phase_status(store, "nope", "completed"),
        lambda: ef.update_feature_status(store, "nope", "completed"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="'nope' not found"):
            call()
    assert store.head() == head


def test_status_arguments_must_be_known_statuses(store: EventStore) -> None:
    plan(store, {"C1": []})
    with pytest.raises(ValueError):
        ef.update_component(store, "C1", "done")
    with pytest.raises(ValueError):
        ef.update_phase_status(store, "P1", "implementing")
    with pytest.raises(ValueError):
        ef.update_feature_status(store, "F", "pending")


def test_commands_join_an_open_transaction_and_see_its_writes(store: EventStore) -> None:
    with store.transaction():
        ef.create_feature(store, "F", "Login")
        ef.create_phase(store, "P1", "F", "p", 1)
        ef.create_component(store, "C1", "P1", "c")
        ef.complete_component(store, "C1")
    feature = ef.get_feature(store, "F")
    assert feature is not None and feature.status is ef.FeatureStatus.COMPLETED


def test_create_feature_can_refuse_an_existing_feature(store: EventStore) -> None:
    ef.create_feature(store, "F", "Login", expected_version=NO_STREAM)
    with pytest.raises(ConcurrencyError):
        ef.create_feature(store, "F", "Again", expected_version=NO_STREAM)


def test_update_feature_status_to_completed_stamps_completed_at(store: EventStore) -> None:
    ef.create_feature(store, "F", "Login")
    before = datetime.now(UTC)
    ef.update_feature_status(store, "F", ef.FeatureStatus.COMPLETED)
    feature = ef.get_feature(store, "F")
    assert feature is not None and feature.completed_at is not None and feature.completed_at >= before


def test_create_phase_validates_interfaces_before_appending(store: EventStore) -> None:
    head = store.head()
    with pytest.raises(ValueError):
        ef.create_phase(store, "P1", "F", "p", 1, [{"name": "x", "type": "t"}])
    assert store.head() == head
