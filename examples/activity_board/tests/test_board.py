"""What each event does to the board, and the queries."""

from __future__ import annotations

from datetime import datetime

import pytest

import evstore_activity_board
from evstore import EventStore, InvalidEventError, NewEvent, UnknownProjectionError
from evstore.testing import EventFactory, Scenario, StoreFactory
from evstore_activity_board import RoleActivity, activity_board, role_activity


def test_a_started_step_is_open_for_its_role(evstore_scenario: Scenario, evstore_event: EventFactory) -> None:
    (
        evstore_scenario.when(evstore_event("step_started", step_id="s1", role="planner"))
        .then_rows("activity_steps", [{"step_id": "s1", "role": "planner", "state": "running", "attempts": 1}])
        .then_rows("activity_roles", [{"role": "planner", "steps_started": 1, "last_position": 1}])
        .then_query(lambda store: [(a.role, a.open_steps) for a in activity_board(store)], [("planner", 1)])
    )


def test_a_completion_without_role_counts_for_the_role_that_started_the_step(
    evstore_scenario: Scenario, evstore_event: EventFactory
) -> None:
    (
        evstore_scenario.given(evstore_event("step_started", step_id="s1", role="planner"))
        .when(evstore_event("step_completed", step_id="s1"))
        .then_rows("activity_steps", [{"step_id": "s1", "role": "planner", "state": "completed"}])
        .then_rows("activity_roles", [{"role": "planner", "steps_started": 1, "steps_completed": 1}])
    )


def test_failures_retries_and_applying(evstore_scenario: Scenario, evstore_event: EventFactory) -> None:
    (
        evstore_scenario.given(
            evstore_event("step_started", step_id="s1", role="implementer"),
            evstore_event("step_applying", step_id="s1"),
            evstore_event("step_failed", step_id="s1", payload={"error": "tests failed"}),
        )
        .when(evstore_event("step_retried", step_id="s1"))
        .then_rows("activity_steps", [{"step_id": "s1", "state": "running", "attempts": 2}])
        .then_rows("activity_roles", [{"role": "implementer", "steps_failed": 1, "retries": 1, "last_position": 4}])
    )


def test_a_step_restarted_by_another_role_moves_to_that_role(
    evstore_scenario: Scenario, evstore_event: EventFactory
) -> None:
    (
        evstore_scenario.given(evstore_event("step_started", step_id="s1", role="implementer"))
        .when(evstore_event("step_started", step_id="s1", role="reviewer"))
        .then_rows("activity_steps", [("s1", "wf-1", "reviewer", "running", 1, "2024-01-01T00:00:01.000000+00:00")])
        .then_query(lambda store: [(a.role, a.open_steps) for a in activity_board(store)],
                    [("reviewer", 1), ("implementer", 0)])
    )


def test_measured_runs_give_success_rate_and_mean_duration(
    evstore_scenario: Scenario, evstore_event: EventFactory
) -> None:
    def metric(success: bool, seconds: float) -> NewEvent:
        return evstore_event(
            "metric_recorded", role="reviewer",
            payload={"cli": "claude", "success": success, "duration_seconds": seconds},
        )

    (
        evstore_scenario.given(metric(True, 10.0), metric(False, 20.0), metric(True, 30.0))
        .when(metric(True, 40.0))
        .then_rows("activity_roles", [{"role": "reviewer", "runs_measured": 4, "runs_succeeded": 3,
                                       "seconds_measured": 100.0, "steps_started": 0}])
        .then_query(
            lambda store: role_activity(store, "reviewer"),
            RoleActivity(
                role="reviewer", open_steps=0, steps_started=0, steps_completed=0, steps_failed=0, retries=0,
                runs_measured=4, success_rate=0.75, mean_seconds=25.0,
                last_active_at=datetime.fromisoformat("2024-01-01T00:00:03+00:00"),
            ),
        )
    )


def test_the_board_lists_busiest_roles_first(evstore_store: EventStore, evstore_event: EventFactory) -> None:
    evstore_store.append_many([
        evstore_event("step_started", step_id="a", role="planner"),
        evstore_event("step_completed", step_id="a"),
        evstore_event("step_started", step_id="b", role="implementer"),
        evstore_event("step_started", step_id="c", role="implementer"),
        evstore_event("step_started", step_id="d", role="reviewer"),
    ])
    board = activity_board(evstore_store)
    assert [(line.role, line.open_steps) for line in board] == [("implementer", 2), ("reviewer", 1), ("planner", 0)]
    assert board[2].success_rate is None and board[2].mean_seconds is None
    assert role_activity(evstore_store, "nobody") is None


def test_an_invalid_step_event_is_rejected_and_changes_nothing(
    evstore_scenario: Scenario, evstore_event: EventFactory
) -> None:
    (
        evstore_scenario.given(evstore_event("step_started", step_id="s1", role="planner"))
        .when(evstore_event("step_started", step_id="s2"))  # steps requires a role
        .then_error(InvalidEventError, match="role")
    )


def test_in_a_permissive_store_events_without_role_or_step_are_skipped(
    evstore_store_factory: StoreFactory, evstore_event: EventFactory
) -> None:
    store = evstore_store_factory([evstore_activity_board], permissive=True)
    Scenario(store).given(
        evstore_event("step_completed", role=None),
        evstore_event("metric_recorded", payload={"success": "yes", "duration_seconds": "slow"}),
        evstore_event("metric_recorded", role="planner", payload={"success": "yes", "duration_seconds": "slow"}),
        evstore_event("step_completed", step_id="orphan"),
    ).then_rows("activity_steps", [{"step_id": "orphan", "role": None, "state": "completed"}]).then_rows(
        "activity_roles", [{"role": "planner", "runs_measured": 1, "runs_succeeded": 0, "seconds_measured": 0.0}]
    )


def test_queries_say_when_the_board_is_not_loaded(evstore_store_factory: StoreFactory) -> None:
    store = evstore_store_factory([])
    with pytest.raises(UnknownProjectionError, match="evstore-activity-board"):
        activity_board(store)
