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


def test_get_feature_returns_the_model_with_aware_times(evstore_store: EventStore) -> None:
    ef.create_feature(evstore_store, "F", "Login", "Users sign in")
    feature = ef.get_feature(evstore_store, "F")
    assert feature is not None
    assert (feature.id, feature.title, feature.description, feature.status) == (
        "F", "Login", "Users sign in", ef.FeatureStatus.PLANNING)
    assert feature.created_at.tzinfo is not None and feature.completed_at is None
    assert feature.created_at == evstore_store.read("F")[0].timestamp


def test_get_queries_return_none_or_empty_for_unknown_ids(evstore_store: EventStore) -> None:
    assert ef.get_feature(evstore_store, "nope") is None
    assert ef.get_phase(evstore_store, "nope") is None
    assert ef.get_component(evstore_store, "nope") is None
    assert ef.get_phases(evstore_store, "nope") == []
    assert ef.get_components(evstore_store, "nope") == []
    assert ef.get_ready_components(evstore_store, "nope") == []


def test_get_phase_and_get_phases_by_sequence_with_interfaces(evstore_store: EventStore) -> None:
    ef.create_feature(evstore_store, "F", "Login")
    ef.create_phase(evstore_store, "P2", "F", "Frontend", 2)
    auth = ef.Interface(name="auth", type="http", definition="POST")
    ef.create_phase(evstore_store, "P1", "F", "Backend", 1, [auth])
    ef.create_phase(evstore_store, "X", "OTHER", "Elsewhere", 0)
    assert ids(ef.get_phases(evstore_store, "F")) == ["P1", "P2"]
    phase = ef.get_phase(evstore_store, "P1")
    assert phase is not None and phase.status is ef.PhaseStatus.PENDING
    assert phase.interfaces == [ef.Interface(name="auth", type="http", definition="POST", locked=False)]
    assert phase.created_at.tzinfo is not None


def test_get_component_returns_every_field(evstore_store: EventStore) -> None:
    plan(evstore_store)
    ef.create_component(evstore_store, "C1", "P1", "Model", files=["m.py"], depends_on=["C0"],
                        assigned_role="tester", description="table")
    ef.complete_component(evstore_store, "C1", {"lines": 12})
    component = ef.get_component(evstore_store, "C1")
    assert component is not None
    assert component.model_dump(exclude={"created_at"}) == {
        "id": "C1", "phase_id": "P1", "title": "Model", "description": "table", "files": ["m.py"],
        "depends_on": ["C0"], "status": ef.ComponentStatus.COMPLETED, "assigned_role": "tester",
        "output": {"lines": 12}, "error": None,
    }


def test_get_components_orders_by_phase_sequence_then_creation_not_id_text(evstore_store: EventStore) -> None:
    ef.create_feature(evstore_store, "F", "Login")
    ef.create_phase(evstore_store, "LATE", "F", "second", 2)
    for component_id in ("C2", "C10", "C1"):
        ef.create_component(evstore_store, component_id, "LATE", component_id)
    ef.create_phase(evstore_store, "EARLY", "F", "first", 1)
    ef.create_component(evstore_store, "C99", "EARLY", "first work")
    assert ids(ef.get_components(evstore_store, "F")) == ["C99", "C2", "C10", "C1"]


def test_get_components_by_status_spans_features_in_creation_order(evstore_store: EventStore) -> None:
    for feature_id in ("F1", "F2"):
        ef.create_feature(evstore_store, feature_id, feature_id)
        ef.create_phase(evstore_store, f"{feature_id}-P", feature_id, "p", 1)
    ef.create_component(evstore_store, "B", "F2-P", "b")
    ef.create_component(evstore_store, "A", "F1-P", "a")
    ef.create_component(evstore_store, "Z", "F1-P", "z")
    ef.start_component(evstore_store, "Z")
    assert ids(ef.get_components_by_status(evstore_store, "pending")) == ["B", "A"]
    assert ids(ef.get_components_by_status(evstore_store, ef.ComponentStatus.IMPLEMENTING)) == ["Z"]
    with pytest.raises(ValueError):
        ef.get_components_by_status(evstore_store, "done")


def test_ready_components_are_pending_with_every_dependency_completed(evstore_store: EventStore) -> None:
    plan(evstore_store, {"C1": [], "C2": ["C1"], "C3": ["C1", "C2"], "C4": ["ghost"], "C5": []})
    assert ids(ef.get_ready_components(evstore_store, "F")) == ["C1", "C5"]
    ef.start_component(evstore_store, "C5")
    ef.complete_component(evstore_store, "C1")
    assert ids(ef.get_ready_components(evstore_store, "F")) == ["C2"]
    ef.complete_component(evstore_store, "C2")
    assert ids(ef.get_ready_components(evstore_store, "F")) == ["C3"]


def test_a_dependency_in_another_feature_counts_when_completed(evstore_store: EventStore) -> None:
    plan(evstore_store, {"C1": ["OTHER-C"]})
    ef.create_feature(evstore_store, "G", "Other")
    ef.create_phase(evstore_store, "GP", "G", "p", 1)
    ef.create_component(evstore_store, "OTHER-C", "GP", "o")
    assert ef.get_ready_components(evstore_store, "F") == []
    ef.complete_component(evstore_store, "OTHER-C")
    assert ids(ef.get_ready_components(evstore_store, "F")) == ["C1"]


def test_a_feature_without_components_or_with_ready_work_is_not_blocked(evstore_store: EventStore) -> None:
    assert not ef.is_feature_blocked(evstore_store, "unknown")
    plan(evstore_store)
    assert not ef.is_feature_blocked(evstore_store, "F")
    ef.create_component(evstore_store, "C1", "P1", "c")
    assert not ef.is_feature_blocked(evstore_store, "F")


def test_a_feature_waiting_only_on_a_failed_dependency_is_blocked(evstore_store: EventStore) -> None:
    plan(evstore_store, {"C1": [], "C2": ["C1"], "C3": []})
    ef.fail_component(evstore_store, "C1", "boom")
    ef.start_component(evstore_store, "C3")
    assert not ef.is_feature_blocked(evstore_store, "F")  # C3 can still finish
    ef.complete_component(evstore_store, "C3")
    assert ef.is_feature_blocked(evstore_store, "F")
    ef.update_component(evstore_store, "C1", "completed")
    assert not ef.is_feature_blocked(evstore_store, "F")


def test_a_dependency_cycle_or_unknown_dependency_blocks(evstore_store: EventStore) -> None:
    plan(evstore_store, {"C1": ["C2"], "C2": ["C1"]})
    assert ef.is_feature_blocked(evstore_store, "F")
    ef.set_component_dependencies(evstore_store, "C2", ["ghost"])
    assert ef.is_feature_blocked(evstore_store, "F")
    ef.set_component_dependencies(evstore_store, "C2", [])
    assert not ef.is_feature_blocked(evstore_store, "F")


def test_a_finished_feature_is_not_blocked(evstore_store: EventStore) -> None:
    plan(evstore_store, {"C1": [], "C2": []})
    ef.complete_component(evstore_store, "C1")
    ef.fail_component(evstore_store, "C2")
    assert not ef.is_feature_blocked(evstore_store, "F")


# --- commands -----------------------------------------------------------------------------


def test_commands_return_the_position_of_the_event_they_append(evstore_store: EventStore) -> None:
    positions = [
        ef.create_feature(evstore_store, "F", "Login"),
        ef.create_phase(evstore_store, "P1", "F", "p", 1),
        ef.create_component(evstore_store, "C1", "P1", "c"),
        ef.start_component(evstore_store, "C1"),
        ef.set_component_dependencies(evstore_store, "C1", []),
        ef.update_component(evstore_store, "C1", "testing"),
        ef.fail_component(evstore_store, "C1", "boom"),
    ]
    assert positions == [1, 2, 3, 4, 5, 6, 7]
    assert [e.workflow_id for e in evstore_store.read_all()] == ["F"] * 9  # + phase_failed, feature_failed


def test_create_component_finds_the_feature_from_the_phase(evstore_store: EventStore) -> None:
    plan(evstore_store)
    position = ef.create_component(evstore_store, "C1", "P1", "c")
    event = evstore_store.read_all(after=position - 1)[0]
    assert (event.workflow_id, event.component_id, event.payload["feature_id"]) == ("F", "C1", "F")
    assert event.payload["assigned_role"] == "implementer"


def test_create_component_in_an_unknown_phase_raises_and_appends_nothing(evstore_store: EventStore) -> None:
    plan(evstore_store)
    head = evstore_store.head()
    with pytest.raises(ValueError, match="phase 'nope' not found"):
        ef.create_component(evstore_store, "C1", "nope", "c")
    assert evstore_store.head() == head


def test_create_component_with_a_feature_id_needs_no_phase_lookup(evstore_store: EventStore) -> None:
    ef.create_component(evstore_store, "C1", "later", "c", feature_id="F")
    component = ef.get_component(evstore_store, "C1")
    assert component is not None and component.phase_id == "later"


def test_commands_on_unknown_ids_raise_and_append_nothing(evstore_store: EventStore) -> None:
    head = evstore_store.head()
    calls: list[Callable[[], int]] = [
        lambda: ef.start_component(evstore_store, "nope"),
        lambda: ef.complete_component(evstore_store, "nope"),
        lambda: ef.fail_component(evstore_store, "nope"),
        lambda: ef.update_component(evstore_store, "nope", "testing"),
        lambda: ef.set_component_dependencies(evstore_store, "nope", []),
        lambda: ef.update_phase_status(evstore_store, "nope", "completed"),
        lambda: ef.update_feature_status(evstore_store, "nope", "completed"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="'nope' not found"):
            call()
    assert evstore_store.head() == head


def test_status_arguments_must_be_known_statuses(evstore_store: EventStore) -> None:
    plan(evstore_store, {"C1": []})
    with pytest.raises(ValueError):
        ef.update_component(evstore_store, "C1", "done")
    with pytest.raises(ValueError):
        ef.update_phase_status(evstore_store, "P1", "implementing")
    with pytest.raises(ValueError):
        ef.update_feature_status(evstore_store, "F", "pending")


def test_commands_join_an_open_transaction_and_see_its_writes(evstore_store: EventStore) -> None:
    with evstore_store.transaction():
        ef.create_feature(evstore_store, "F", "Login")
        ef.create_phase(evstore_store, "P1", "F", "p", 1)
        ef.create_component(evstore_store, "C1", "P1", "c")
        ef.complete_component(evstore_store, "C1")
    feature = ef.get_feature(evstore_store, "F")
    assert feature is not None and feature.status is ef.FeatureStatus.COMPLETED


def test_create_feature_can_refuse_an_existing_feature(evstore_store: EventStore) -> None:
    ef.create_feature(evstore_store, "F", "Login", expected_version=NO_STREAM)
    with pytest.raises(ConcurrencyError):
        ef.create_feature(evstore_store, "F", "Again", expected_version=NO_STREAM)


def test_update_feature_status_to_completed_stamps_completed_at(evstore_store: EventStore) -> None:
    ef.create_feature(evstore_store, "F", "Login")
    before = datetime.now(UTC)
    ef.update_feature_status(evstore_store, "F", ef.FeatureStatus.COMPLETED)
    feature = ef.get_feature(evstore_store, "F")
    assert feature is not None and feature.completed_at is not None and feature.completed_at >= before


def test_create_phase_validates_interfaces_before_appending(evstore_store: EventStore) -> None:
    head = evstore_store.head()
    with pytest.raises(ValueError):
        ef.create_phase(evstore_store, "P1", "F", "p", 1, [{"name": "x", "type": "t"}])
    assert evstore_store.head() == head
