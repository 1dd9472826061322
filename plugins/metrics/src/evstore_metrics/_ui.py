"""What evstore-metrics shows in ``evstore ui``: success rate and duration per role,
CLI or task type, over the window and over time, and which CLI routing would pick for
each task type. The window ends at the newest metric, not at the clock, so an old
store still shows its history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from evstore.ui import (
    Child,
    Page,
    Panel,
    View,
    badge,
    bar_chart,
    line_chart,
    percent,
    seconds,
    table,
    tag,
)

from ._stats import best_cli, compare_clis

# The grouping column comes from this table, never from the request.
GROUPS = {"role": "role", "cli": "CLI", "task_type": "task type"}
WINDOWS = (1, 7, 30, 90, 365)
MAX_SERIES = 8
MIN_SAMPLES = 3


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Page("metrics", "Metrics", metrics_page,
                  description="success rate and duration per role, CLI and task type, for adaptive routing"))


def metrics_page(view: View) -> Child:
    by = view.param("by", "role") or "role"
    if by not in GROUPS:
        return tag("p", f"Cannot group by {by!r}; choose one of {sorted(GROUPS)}.", class_="panel-error")
    try:
        days = float(view.param("days", "30") or "30")
    except ValueError:
        days = -1
    if not 0 < days <= 3650:
        return tag("p", "days must be a number of days between 0 and 3650.", class_="panel-error")
    newest = view.store.reader.fetchvalue("SELECT MAX(timestamp) FROM metrics")
    if newest is None:
        return tag("p", "No metrics recorded yet.", class_="empty")
    end = datetime.fromisoformat(newest)
    start = (end - timedelta(days=days)).isoformat(timespec="microseconds")
    hourly = days <= 2
    rows = view.store.reader.fetchall(
        f"SELECT substr(timestamp, 1, {13 if hourly else 10}) AS bucket, {by}, COUNT(*), AVG(success), "
        f"AVG(duration_seconds) FROM metrics WHERE timestamp >= ? GROUP BY bucket, {by} ORDER BY bucket",
        [start],
    )
    return [
        _choices(view, by, days),
        tag("p", f"{sum(r[2] for r in rows):,} metrics from {start[:16].replace('T', ' ')} to "
                 f"{newest[:16].replace('T', ' ')} UTC, per {'hour' if hourly else 'day'}.", class_="note"),
        _charts(rows, GROUPS[by], hourly),
        tag("h3", "Routing: the best CLI per task type"),
        _routing(view, days, end),
    ]


def _choices(view: View, by: str, days: float) -> Child:
    groups = [tag("a", badge(label, "run") if key == by else label, href=view.url(by=key)) for key, label in
              GROUPS.items()]
    windows = [tag("a", badge(f"{w} d", "run") if w == days else f"{w} d", href=view.url(days=w)) for w in WINDOWS]
    return tag("p", "group by ", _spaced(groups), " · window ", _spaced(windows))


def _spaced(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend([item, " "])
    return out


def _charts(rows: list[Any], label: str, hourly: bool) -> Child:
    totals: dict[str, list[float]] = {}  # group -> [samples, successes, seconds]
    for _, group, count, success, duration in rows:
        entry = totals.setdefault(str(group), [0, 0.0, 0.0])
        entry[0] += count
        entry[1] += float(success) * count
        entry[2] += float(duration) * count
    groups = sorted(totals, key=lambda g: (-totals[g][0], g))[:MAX_SERIES]
    buckets = sorted({str(r[0]) for r in rows})
    rate = {g: [None] * len(buckets) for g in groups}  # type: dict[str, list[float | None]]
    duration = {g: [None] * len(buckets) for g in groups}  # type: dict[str, list[float | None]]
    index = {b: i for i, b in enumerate(buckets)}
    for bucket, group, _, success, mean in rows:
        if str(group) in rate:
            rate[str(group)][index[str(bucket)]] = float(success)
            duration[str(group)][index[str(bucket)]] = float(mean)
    labels = [b[5:].replace("T", " ") + (":00" if hourly else "") for b in buckets]
    return tag("div", [
        bar_chart(f"Success rate per {label}", [(g, totals[g][1] / totals[g][0]) for g in groups],
                  y_format=percent, y_max=1.0),
        bar_chart(f"Mean duration per {label}", [(g, totals[g][2] / totals[g][0]) for g in groups], y_format=seconds),
        line_chart(f"Success rate per {label}, over time", labels, rate, y_format=percent, y_max=1.0),
        line_chart(f"Mean duration per {label}, over time", labels, duration, y_format=seconds),
    ], class_="charts")


def _routing(view: View, days: float, end: datetime) -> Child:
    stats = compare_clis(view.store, None, days, now=end)
    best = {kind: best_cli(view.store, kind, MIN_SAMPLES, days, now=end) for kind in {s.task_type for s in stats}}
    return table(
        ["task type", "cli", "samples", "success", "mean duration", "mean retries", "routing picks"],
        [[s.task_type, s.cli, s.samples, percent(s.success_rate), seconds(s.avg_duration), f"{s.avg_retries:.2f}",
          badge("★ best", "ok") if best.get(s.task_type) == s.cli else ""] for s in stats],
        numeric=[2, 3, 4, 5], empty="No metrics in this window.",
    ), tag("p", f"Routing picks the most successful CLI with at least {MIN_SAMPLES} samples (then the fastest).",
           class_="note")
