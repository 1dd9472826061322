"""The metrics plugin's dashboard page: charts per role, CLI and task type, and routing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import evstore_metrics
from evstore import EventStore
from evstore.ui import View, render
from evstore_metrics._ui import register_ui


def _page() -> Any:
    items: list[Any] = []
    register_ui(items.append)
    [page] = items
    return page


def _record(store: EventStore) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)  # long ago: the window ends at the newest metric
    for day in range(5):
        for n, (cli, ok) in enumerate([("claude", True), ("codex", day % 2 == 0), ("gemini", False)]):
            evstore_metrics.record_metric(store, "implementer", cli, "wf-1", ok, 10.0 + n, task_type="implement",
                                          timestamp=start + timedelta(days=day, minutes=n))


@pytest.mark.parametrize("by", ["role", "cli", "task_type"])
def test_charts_per_grouping(evstore_store: EventStore, by: str) -> None:
    _record(evstore_store)
    html = render(_page().render(View(evstore_store, {"by": by, "days": "30"})))
    assert html.count('<svg viewBox="0 0 640 220" role="img" class="chart">') == 4
    assert "15 metrics from 2024-02-" in html and "per day" in html
    if by == "cli":
        assert "claude · 03-01: 100%" in html and "gemini · 03-05: 0%" in html
    assert "★ best" in html and html.index("★ best") > html.index(">claude<")


def test_bad_choices_are_said_plainly(evstore_store: EventStore) -> None:
    assert "No metrics recorded yet" in render(_page().render(View(evstore_store)))
    _record(evstore_store)
    assert "Cannot group by" in render(_page().render(View(evstore_store, {"by": "role; DROP TABLE metrics"})))
    assert "days must be" in render(_page().render(View(evstore_store, {"days": "nan"})))


@pytest.mark.parametrize("days", [1, 3, 30])
def test_the_routing_table_picks_what_best_cli_picks(evstore_store: EventStore, days: int) -> None:
    from evstore_metrics._ui import MIN_SAMPLES, Group, routing

    _record(evstore_store)
    for n in range(6):  # a second task type where the ranking ties on success and duration decides
        evstore_metrics.record_metric(evstore_store, "tester", ("codex", "gemini")[n % 2], "wf-2", True,
                                      20.0 - n % 2, task_type="test",
                                      timestamp=datetime(2024, 3, 5, 1, n, tzinfo=UTC))
    end = datetime.fromisoformat(evstore_store.reader.fetchvalue("SELECT MAX(timestamp) FROM metrics"))
    start = (end - timedelta(days=days)).isoformat(timespec="microseconds")
    # The page reads the sums as floats; PostgreSQL's SUM of an integer column is numeric
    # (Decimal), so the casts give the same floats on both backends.
    rows = [Group("b", *row) for row in evstore_store.reader.fetchall(
        "SELECT role, cli, task_type, COUNT(*), CAST(SUM(success) AS DOUBLE PRECISION), SUM(duration_seconds), "
        "CAST(SUM(retry_count) AS DOUBLE PRECISION) FROM metrics "
        "WHERE timestamp >= ? GROUP BY role, cli, task_type", [start])]
    ours = {kind: cli for kind, cli, *_, best in routing(rows) if best}
    expected = {kind: evstore_metrics.best_cli(evstore_store, kind, MIN_SAMPLES, days, now=end)
                for kind in ("implement", "test")}
    assert ours == {k: v for k, v in expected.items() if v is not None}
    ranked = [(s.task_type, s.cli) for s in evstore_metrics.compare_clis(evstore_store, None, days, now=end)]
    assert [(kind, cli) for kind, cli, *_ in routing(rows)] == ranked
