"""What evstore-metrics shows in ``evstore ui``: success rate and duration per role,
CLI or task type, over the window and over time, and which CLI routing would pick for
each task type. The window ends at the newest metric, not at the clock, so an old
store still shows its history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

# The grouping column comes from this table, never from the request.
GROUPS = {"role": "role", "cli": "CLI", "task_type": "task type"}
WINDOWS = (1, 7, 30, 90, 365)
DEFAULT_DAYS = 7
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
        days = float(view.param("days", str(DEFAULT_DAYS)) or DEFAULT_DAYS)
    except ValueError:
        days = -1
    if not 0 < days <= 3650:
        return tag("p", "days must be a number of days between 0 and 3650.", class_="panel-error")
    oldest, newest = view.store.reader.fetchone("SELECT MIN(timestamp), MAX(timestamp) FROM metrics")
    if newest is None:
        return tag("p", "No metrics recorded yet.", class_="empty")
    end = datetime.fromisoformat(newest)
    start = (end - timedelta(days=days)).isoformat(timespec="microseconds")
    hourly = days <= 2
    # One pass over the window, grouped by everything the page shows: the charts and the
    # routing table are sums over these groups. A window that covers every metric reads
    # the table without the timestamp condition, which is faster than the index then.
    where, params = ("WHERE timestamp >= ? ", [start]) if start > oldest else ("", [])
    rows = [
        Group(str(bucket), str(role), str(cli), str(kind), int(count), float(successes), float(seconds),
              float(retries))
        for bucket, role, cli, kind, count, successes, seconds, retries in view.store.reader.fetchall(
            f"SELECT substr(timestamp, 1, {13 if hourly else 10}) AS bucket, role, cli, task_type, COUNT(*), "
            f"SUM(success), SUM(duration_seconds), SUM(retry_count) FROM metrics {where}"
            "GROUP BY bucket, role, cli, task_type", params,
        )
    ]
    return [
        _choices(view, by, days),
        tag("p", f"{sum(r.count for r in rows):,} metrics from {start[:16].replace('T', ' ')} to "
                 f"{newest[:16].replace('T', ' ')} UTC, per {'hour' if hourly else 'day'}.", class_="note"),
        _charts(rows, by, hourly),
        tag("h3", "Routing: the best CLI per task type"),
        _routing(rows),
    ]


@dataclass(frozen=True)
class Group:
    bucket: str
    role: str
    cli: str
    task_type: str
    count: int
    successes: float
    seconds: float
    retries: float

    def key(self, by: str) -> str:
        return str(getattr(self, by))


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


def _charts(rows: list[Group], by: str, hourly: bool) -> Child:
    label = GROUPS[by]
    totals: dict[str, list[float]] = {}  # group -> [samples, successes, seconds]
    per_bucket: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        for entry in (totals.setdefault(row.key(by), [0, 0.0, 0.0]),
                      per_bucket.setdefault((row.key(by), row.bucket), [0, 0.0, 0.0])):
            entry[0] += row.count
            entry[1] += row.successes
            entry[2] += row.seconds
    groups = sorted(totals, key=lambda g: (-totals[g][0], g))[:MAX_SERIES]
    buckets = sorted({r.bucket for r in rows})

    def series(column: int) -> dict[str, list[float | None]]:
        return {g: [per_bucket[(g, b)][column] / per_bucket[(g, b)][0] if (g, b) in per_bucket else None
                    for b in buckets] for g in groups}

    labels = [b[5:].replace("T", " ") + (":00" if hourly else "") for b in buckets]
    return tag("div", [
        bar_chart(f"Success rate per {label}", [(g, totals[g][1] / totals[g][0]) for g in groups],
                  y_format=percent, y_max=1.0),
        bar_chart(f"Mean duration per {label}", [(g, totals[g][2] / totals[g][0]) for g in groups], y_format=seconds),
        line_chart(f"Success rate per {label}, over time", labels, series(1), y_format=percent, y_max=1.0),
        line_chart(f"Mean duration per {label}, over time", labels, series(2), y_format=seconds),
    ], class_="charts")


def routing(rows: list[Group]) -> list[tuple[str, str, int, float, float, float, bool]]:
    """(task type, cli, samples, success rate, mean seconds, mean retries, picked), ranked
    as :func:`evstore_metrics.compare_clis` ranks them; ``picked`` is what
    :func:`evstore_metrics.best_cli` would answer with ``MIN_SAMPLES``."""
    sums: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        entry = sums.setdefault((row.task_type, row.cli), [0, 0.0, 0.0, 0.0])
        entry[0] += row.count
        entry[1] += row.successes
        entry[2] += row.seconds
        entry[3] += row.retries
    ranked = sorted(
        ((kind, cli, int(n), ok / n, secs / n, tries / n) for (kind, cli), (n, ok, secs, tries) in sums.items()),
        key=lambda r: (r[0], -r[3], r[4], r[5], r[1]),
    )
    picked: set[str] = set()
    result = []
    for kind, cli, n, rate, secs, tries in ranked:
        best = kind not in picked and n >= MIN_SAMPLES
        if best:
            picked.add(kind)
        result.append((kind, cli, n, rate, secs, tries, best))
    return result


def _routing(rows: list[Group]) -> Child:
    return table(
        ["task type", "cli", "samples", "success", "mean duration", "mean retries", "routing picks"],
        [[kind, cli, n, percent(rate), seconds(secs), f"{tries:.2f}", badge("★ best", "ok") if best else ""]
         for kind, cli, n, rate, secs, tries, best in routing(rows)],
        numeric=[2, 3, 4, 5], empty="No metrics in this window.",
    ), tag("p", f"Routing picks the most successful CLI with at least {MIN_SAMPLES} samples (then the fastest).",
           class_="note")
