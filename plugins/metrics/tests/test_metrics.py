"""Handler, queries and append-time validation of evstore-metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from evstore import EventStore, InvalidEventError, NewEvent, PayloadValidationError
from evstore.testing import Scenario, StoreFactory
from evstore_metrics import (
    COLUMNS,
    METRIC_RECORDED,
    CliStats,
    RoleStats,
    best_cli,
    compare_clis,
    get_metrics,
    recent_failures,
    record_metric,
    role_stats,
)

NOW = datetime(2024, 6, 30, 12, 0, 0, tzinfo=UTC)
INJECTIONS = ["x' OR '1'='1", "impl'; DROP TABLE metrics; --", "%", "*", "' OR 1=1 --"]


def ago(days: float = 0, seconds: float = 0) -> datetime:
    return NOW - timedelta(days=days, seconds=seconds)


def record(store: EventStore, role: str = "implementer", cli: str = "claude", *,
           success: bool = True, duration: float = 10.0, days_ago: float = 1, **rest: Any) -> int:
    return record_metric(
        store, role, cli, rest.pop("workflow_id", "wf-1"), success, duration,
        timestamp=ago(days_ago), **rest,
    )


def table(store: EventStore) -> list[tuple[Any, ...]]:
    return store.reader.fetchall("SELECT * FROM metrics ORDER BY id")


def metric(payload: dict[str, Any], role: str | None = "implementer", **envelope: Any) -> NewEvent:
    body = {"cli": "claude", "success": True, "duration_seconds": 1.5} | payload
    return NewEvent(workflow_id="wf-1", event_type=METRIC_RECORDED, role=role, payload=body, **envelope)


# --- the handler -------------------------------------------------------------------------


def test_metric_recorded_inserts_a_row_with_the_originals_columns(evstore_store: EventStore) -> None:
    position = evstore_store.append(metric(
        {"task_type": "code", "success": False, "duration_seconds": 12.25, "retry_count": 2,
         "token_usage": 1500, "error_category": "timeout", "model_score": 0.75},
        timestamp=NOW, role="reviewer",
    ))
    columns = evstore_store.reader.execute("SELECT * FROM metrics").description
    assert [c[0] for c in columns] == list(COLUMNS)
    assert table(evstore_store) == [
        (position, "2024-06-30T12:00:00.000000+00:00", "reviewer", "claude", "code", "wf-1",
         0, 12.25, 2, 1500, "timeout", 0.75)
    ]


def test_metric_recorded_fills_in_the_payload_defaults(evstore_store: EventStore) -> None:
    evstore_store.append(metric({"duration_seconds": 3}, timestamp=NOW))
    (row,) = get_metrics(evstore_store, now=NOW)
    assert row | {"id": 0} == {
        "id": 0, "timestamp": "2024-06-30T12:00:00.000000+00:00", "role": "implementer",
        "cli": "claude", "task_type": "other", "workflow_id": "wf-1", "success": 1,
        "duration_seconds": 3.0, "retry_count": 0, "token_usage": None,
        "error_category": None, "model_score": None,
    }


def test_the_metric_id_is_the_event_position(evstore_store: EventStore) -> None:
    first = record(evstore_store)
    second = record(evstore_store, workflow_id="wf-2")
    third = record(evstore_store)
    assert [row[0] for row in table(evstore_store)] == [first, second, third] == [1, 2, 3]
    assert [event.id for event in evstore_store.read("wf-1")] == [1, 3]


# --- record_metric and get_metrics ---------------------------------------------------------


def test_record_metric_returns_the_position_and_stores_every_argument(evstore_store: EventStore) -> None:
    position = record_metric(
        evstore_store, "tester", "codex", "wf-9", False, 4.5, task_type="test", retry_count=3,
        token_usage=10, error_category="assertion", model_score=0.2, timestamp=NOW,
    )
    (event,) = evstore_store.read("wf-9")
    assert (event.id, event.role, event.event_type) == (position, "tester", METRIC_RECORDED)
    assert get_metrics(evstore_store, now=NOW) == [
        {"id": position, "timestamp": "2024-06-30T12:00:00.000000+00:00", "role": "tester",
         "cli": "codex", "task_type": "test", "workflow_id": "wf-9", "success": 0,
         "duration_seconds": 4.5, "retry_count": 3, "token_usage": 10,
         "error_category": "assertion", "model_score": 0.2}
    ]


def test_get_metrics_is_newest_first_by_timestamp_then_position(evstore_store: EventStore) -> None:
    old = record(evstore_store, days_ago=3)
    tie_a = record(evstore_store, days_ago=1)
    tie_b = record(evstore_store, days_ago=1)
    backdated = record(evstore_store, days_ago=2)  # appended last, but older than the ties
    assert [m["id"] for m in get_metrics(evstore_store, now=NOW)] == [tie_b, tie_a, backdated, old]


def test_get_metrics_keeps_only_the_window(evstore_store: EventStore) -> None:
    record_metric(evstore_store, "r", "c", "w", True, 1.0, timestamp=ago(days=7))  # exactly on the edge
    record_metric(evstore_store, "r", "c", "w", True, 1.0, timestamp=ago(days=7, seconds=1))
    record_metric(evstore_store, "r", "c", "w", True, 1.0, timestamp=ago(days=0.5))
    assert len(get_metrics(evstore_store, days=7, now=NOW)) == 2
    assert len(get_metrics(evstore_store, days=1, now=NOW)) == 1
    assert len(get_metrics(evstore_store, days=0.25, now=NOW)) == 0
    assert len(get_metrics(evstore_store, days=10**12, now=NOW)) == 3  # reaches past year 1
    assert len(get_metrics(evstore_store, days=30)) == 0  # the real "now" is long after 2024-06


def test_the_window_compares_instants_whatever_the_zone_of_now(evstore_store: EventStore) -> None:
    record_metric(evstore_store, "r", "c", "w", True, 1.0, timestamp=ago(days=1, seconds=-1))
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert len(get_metrics(evstore_store, days=1, now=tokyo)) == 1
    assert len(get_metrics(evstore_store, days=1, now=tokyo + timedelta(seconds=2))) == 0


def test_get_metrics_filters_by_role_cli_workflow_and_task_type(evstore_store: EventStore) -> None:
    a = record(evstore_store, "implementer", "claude", workflow_id="wf-1", task_type="code")
    b = record(evstore_store, "implementer", "codex", workflow_id="wf-2", task_type="code")
    c = record(evstore_store, "reviewer", "claude", workflow_id="wf-1", task_type="review")

    def ids(**filters: Any) -> list[int]:
        return sorted(m["id"] for m in get_metrics(evstore_store, now=NOW, **filters))

    assert ids() == [a, b, c]
    assert ids(role="implementer") == [a, b]
    assert ids(cli="claude") == [a, c]
    assert ids(workflow_id="wf-1") == [a, c]
    assert ids(task_type="review") == [c]
    assert ids(role="implementer", cli="claude", workflow_id="wf-1") == [a]
    assert ids(role="implementer", workflow_id="wf-9") == []


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injection_strings_are_plain_values_that_match_nothing(evstore_store: EventStore, injection: str) -> None:
    record(evstore_store, "implementer", "claude")
    record(evstore_store, "reviewer", "codex", success=False)
    assert get_metrics(evstore_store, role=injection, now=NOW) == []
    assert get_metrics(evstore_store, cli=injection, now=NOW) == []
    assert get_metrics(evstore_store, workflow_id=injection, now=NOW) == []
    assert recent_failures(evstore_store, role=injection) == []
    assert role_stats(evstore_store, injection, now=NOW).samples == 0
    assert compare_clis(evstore_store, injection, now=NOW) == []
    assert best_cli(evstore_store, injection, min_samples=1, now=NOW) is None
    assert len(table(evstore_store)) == 2


def test_an_injection_string_recorded_as_a_role_is_matched_exactly(evstore_store: EventStore) -> None:
    odd = "x' OR '1'='1"
    position = record(evstore_store, odd, "claude")
    record(evstore_store, "x", "claude")
    assert [m["id"] for m in get_metrics(evstore_store, role=odd, now=NOW)] == [position]
    assert role_stats(evstore_store, odd, now=NOW).samples == 1


@pytest.mark.parametrize("days", ["30", None, True, False, b"1", [30]])
def test_days_must_be_a_number(evstore_store: EventStore, days: Any) -> None:
    with pytest.raises(TypeError, match="days must be a number"):
        get_metrics(evstore_store, days=days)
    with pytest.raises(TypeError, match="days must be a number"):
        role_stats(evstore_store, "r", days=days)
    with pytest.raises(TypeError, match="days must be a number"):
        compare_clis(evstore_store, "code", days=days)
    with pytest.raises(TypeError, match="days must be a number"):
        best_cli(evstore_store, "code", days=days)


@pytest.mark.parametrize("days", [-1, -0.5, float("nan"), float("inf"), float("-inf")])
def test_days_must_be_finite_and_not_negative(evstore_store: EventStore, days: float) -> None:
    with pytest.raises(ValueError, match="days must be a finite number >= 0"):
        get_metrics(evstore_store, days=days)
    with pytest.raises(ValueError, match="days must be a finite number >= 0"):
        role_stats(evstore_store, "r", days=days)


def test_now_must_be_an_aware_datetime(evstore_store: EventStore) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        get_metrics(evstore_store, now=datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="now must be a datetime"):
        get_metrics(evstore_store, now="2024-01-01T00:00:00+00:00")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["role", "cli", "workflow_id", "task_type"])
def test_filters_must_be_strings(evstore_store: EventStore, name: str) -> None:
    with pytest.raises(TypeError, match=f"{name} must be a str or None"):
        filters: dict[str, Any] = {name: 1}
        get_metrics(evstore_store, **filters)


# --- statistics ------------------------------------------------------------------------------


def test_role_stats_averages_the_roles_metrics_in_the_window(evstore_store: EventStore) -> None:
    record(evstore_store, "implementer", success=True, duration=10, retry_count=0)
    record(evstore_store, "implementer", success=False, duration=20, retry_count=2)
    record(evstore_store, "implementer", success=True, duration=30, retry_count=1, cli="codex")
    record(evstore_store, "implementer", success=False, duration=1000, days_ago=40)  # outside
    record(evstore_store, "reviewer", success=False, duration=500)  # another role
    stats = role_stats(evstore_store, "implementer", now=NOW)
    assert isinstance(stats, RoleStats)
    assert stats.model_dump() == {
        "role": "implementer", "samples": 3, "success_rate": pytest.approx(2 / 3),
        "avg_duration": 20.0, "avg_retries": 1.0,
    }
    assert role_stats(evstore_store, "implementer", days=60, now=NOW).samples == 4


def test_role_stats_without_samples_reports_no_rates(evstore_store: EventStore) -> None:
    assert role_stats(evstore_store, "nobody", now=NOW) == RoleStats(
        role="nobody", samples=0, success_rate=None, avg_duration=None, avg_retries=None
    )


def test_role_stats_wants_a_string_role(evstore_store: EventStore) -> None:
    with pytest.raises(TypeError, match="role must be a str"):
        role_stats(evstore_store, None)  # type: ignore[arg-type]


def test_compare_clis_groups_by_cli_and_ranks_best_first(evstore_store: EventStore) -> None:
    for success in (True, True, False):
        record(evstore_store, cli="claude", task_type="code", success=success, duration=20)
    for success in (True, False):
        record(evstore_store, cli="codex", task_type="code", success=success, duration=5, retry_count=1)
    record(evstore_store, cli="gemini", task_type="code", success=True, duration=50, days_ago=45)  # outside
    record(evstore_store, cli="gemini", task_type="docs", success=True, duration=1)  # another task type
    compared = compare_clis(evstore_store, "code", now=NOW)
    assert all(isinstance(stats, CliStats) for stats in compared)
    assert [stats.model_dump() for stats in compared] == [
        {"cli": "claude", "task_type": "code", "samples": 3, "success_rate": pytest.approx(2 / 3),
         "avg_duration": 20.0, "avg_retries": 0.0},
        {"cli": "codex", "task_type": "code", "samples": 2, "success_rate": 0.5,
         "avg_duration": 5.0, "avg_retries": 1.0},
    ]
    everything = compare_clis(evstore_store, None, days=60, now=NOW)
    assert [(s.task_type, s.cli) for s in everything] == [
        ("code", "gemini"), ("code", "claude"), ("code", "codex"), ("docs", "gemini")
    ]


def test_compare_clis_breaks_ties_by_duration_then_retries_then_name(evstore_store: EventStore) -> None:
    record(evstore_store, cli="slow", task_type="t", duration=9)
    record(evstore_store, cli="retrying", task_type="t", duration=1, retry_count=2)
    record(evstore_store, cli="b-fast", task_type="t", duration=1)
    record(evstore_store, cli="a-fast", task_type="t", duration=1)
    assert [s.cli for s in compare_clis(evstore_store, "t", now=NOW)] == ["a-fast", "b-fast", "retrying", "slow"]


def test_best_cli_needs_the_minimum_number_of_samples(evstore_store: EventStore) -> None:
    for _ in range(2):
        record(evstore_store, cli="newcomer", task_type="code", success=True)
    for success in (True, True, True, False, False):
        record(evstore_store, cli="veteran", task_type="code", success=success)
    assert best_cli(evstore_store, "code", now=NOW) == "veteran"  # default min_samples=5
    assert best_cli(evstore_store, "code", min_samples=2, now=NOW) == "newcomer"
    assert best_cli(evstore_store, "code", min_samples=6, now=NOW) is None
    assert best_cli(evstore_store, "docs", min_samples=1, now=NOW) is None
    assert best_cli(evstore_store, "code", min_samples=1, days=0.5, now=NOW) is None  # all a day old


@pytest.mark.parametrize(("min_samples", "error"), [(0, ValueError), (-3, ValueError), (2.0, TypeError),
                                                     (True, TypeError), ("5", TypeError)])
def test_best_cli_checks_min_samples(evstore_store: EventStore, min_samples: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="min_samples"):
        best_cli(evstore_store, "code", min_samples=min_samples)


# --- recent failures ---------------------------------------------------------------------------


def test_recent_failures_are_the_newest_failed_metrics(evstore_store: EventStore) -> None:
    old = record(evstore_store, success=False, days_ago=90, error_category="crash")
    record(evstore_store, success=True, days_ago=0)
    newest = record(evstore_store, success=False, days_ago=0.1, role="reviewer")
    middle = record(evstore_store, success=False, days_ago=2)
    assert [m["id"] for m in recent_failures(evstore_store)] == [newest, middle, old]
    assert [m["id"] for m in recent_failures(evstore_store, limit=2)] == [newest, middle]
    assert [m["id"] for m in recent_failures(evstore_store, role="implementer")] == [middle, old]
    assert recent_failures(evstore_store, limit=0) == []
    assert recent_failures(evstore_store)[-1]["error_category"] == "crash"


@pytest.mark.parametrize(("limit", "error"), [(-1, ValueError), (1.5, TypeError), (None, TypeError)])
def test_recent_failures_checks_limit(evstore_store: EventStore, limit: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="limit"):
        recent_failures(evstore_store, limit=limit)


# --- bad events are rejected at append, and nothing is written -----------------------------


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (metric({}, role=None), InvalidEventError, "requires role"),
        (metric({}, role=""), InvalidEventError, "requires role"),
        (metric({"cli": None}), PayloadValidationError, "cli"),
        (metric({"cli": ""}), PayloadValidationError, "cli"),
        (metric({"cli": 3}), PayloadValidationError, "cli"),
        (NewEvent(workflow_id="w", event_type=METRIC_RECORDED, role="r",
                  payload={"success": True, "duration_seconds": 1.0}), PayloadValidationError, "cli"),
        (metric({"success": "yes"}), PayloadValidationError, "success"),
        (metric({"success": 1}), PayloadValidationError, "success"),
        (metric({"success": None}), PayloadValidationError, "success"),
        (metric({"duration_seconds": -0.1}), PayloadValidationError, "duration_seconds"),
        (metric({"duration_seconds": "1.5"}), PayloadValidationError, "duration_seconds"),
        (metric({"duration_seconds": float("inf")}), PayloadValidationError, "duration_seconds"),
        (metric({"retry_count": -1}), PayloadValidationError, "retry_count"),
        (metric({"retry_count": 1.5}), PayloadValidationError, "retry_count"),
        (metric({"retry_count": True}), PayloadValidationError, "retry_count"),
        (metric({"task_type": ""}), PayloadValidationError, "task_type"),
        (metric({"task_type": 7}), PayloadValidationError, "task_type"),
        (metric({"token_usage": "100"}), PayloadValidationError, "token_usage"),
        (metric({"token_usage": -5}), PayloadValidationError, "token_usage"),
        (metric({"error_category": 404}), PayloadValidationError, "error_category"),
        (metric({"model_score": "high"}), PayloadValidationError, "model_score"),
        (metric({"model_score": float("nan")}), PayloadValidationError, "model_score"),
    ],
)
def test_bad_events_are_rejected_at_append(
    evstore_scenario: Scenario, event: NewEvent, error: type[Exception], message: str
) -> None:
    evstore_scenario.when(event).then_error(error, match=message)
    assert (evstore_scenario.store.head(), table(evstore_scenario.store)) == (0, [])


def test_record_metric_rejects_bad_values_and_writes_nothing(evstore_store: EventStore) -> None:
    with pytest.raises(PayloadValidationError, match="success"):
        record_metric(evstore_store, "r", "c", "w", 1, 1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError, match="workflow_id"):
        record_metric(evstore_store, "r", "c", "", True, 1.0)
    with pytest.raises(InvalidEventError, match="role"):
        record_metric(evstore_store, None, "c", "w", True, 1.0)  # type: ignore[arg-type]
    assert (evstore_store.head(), table(evstore_store)) == (0, [])


def test_a_bad_metric_in_a_batch_rejects_the_whole_batch(evstore_store: EventStore) -> None:
    with pytest.raises(PayloadValidationError):
        evstore_store.append_many([metric({}), metric({"duration_seconds": -1})])
    assert (evstore_store.head(), table(evstore_store)) == (0, [])


# --- plugin wiring -----------------------------------------------------------------------------


def test_the_installed_entry_point_loads_this_plugin(
    evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "metrics")
    opened = evstore_store_factory([], autoload=True)
    (info,) = opened.plugins
    assert (info.name, info.distribution, info.projections, info.event_types) == (
        "metrics", "evstore-metrics", ["metrics"], [METRIC_RECORDED]
    )
