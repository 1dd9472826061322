"""Aggregates for adaptive routing: how well a role does, and which cli does a kind of
task best. Averages are computed by the database over the rows in the time window, in
double precision on both backends (PostgreSQL's AVG of an integer column would be an
exact numeric, read back as a Decimal)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from evstore import EventStore

from ._arguments import count, optional_text, required_text, window_start


class RoleStats(BaseModel):
    """How a role did in the window. With no samples the averages are ``None``: no
    data is not a 0 % success rate."""

    model_config = ConfigDict(frozen=True)

    role: str
    samples: int
    success_rate: float | None
    avg_duration: float | None
    avg_retries: float | None


class CliStats(BaseModel):
    """How one cli did on one task type in the window (``samples`` >= 1)."""

    model_config = ConfigDict(frozen=True)

    cli: str
    task_type: str
    samples: int
    success_rate: float
    avg_duration: float
    avg_retries: float


_SUCCESS = "AVG(CAST(success AS DOUBLE PRECISION))"
_RETRIES = "AVG(CAST(retry_count AS DOUBLE PRECISION))"
_AGGREGATES = f"COUNT(*), {_SUCCESS}, AVG(duration_seconds), {_RETRIES}"
# Best first: most successful, then fastest, then fewest retries; the cli name breaks
# any remaining tie so the answer never depends on row order.
_RANKING = f"{_SUCCESS} DESC, AVG(duration_seconds) ASC, {_RETRIES} ASC, cli ASC"


def role_stats(store: EventStore, role: str, days: float = 30, *, now: datetime | None = None) -> RoleStats:
    """Success rate, average duration and average retries of ``role`` over the last
    ``days`` days (``days`` and ``now`` as in :func:`get_metrics`)."""
    required_text("role", role)
    samples, success_rate, avg_duration, avg_retries = store.reader.fetchone(
        f"SELECT {_AGGREGATES} FROM metrics WHERE role = ? AND timestamp >= ?",
        (role, window_start(days, now)),
    )
    return RoleStats(
        role=role, samples=samples, success_rate=success_rate,
        avg_duration=avg_duration, avg_retries=avg_retries,
    )


def compare_clis(
    store: EventStore, task_type: str | None, days: float = 30, *, now: datetime | None = None
) -> list[CliStats]:
    """One entry per (cli, task type) over the last ``days`` days, for ``task_type``
    (or every task type if ``None``): ordered by task type, then best first (success
    rate, then shorter duration, then fewer retries, then cli name)."""
    params: list[Any] = [window_start(days, now)]
    if optional_text("task_type", task_type) is None:
        where = "timestamp >= ?"
    else:
        where = "task_type = ? AND timestamp >= ?"
        params.insert(0, task_type)
    rows = store.reader.fetchall(
        f"SELECT cli, task_type, {_AGGREGATES} FROM metrics WHERE {where} "
        f"GROUP BY cli, task_type ORDER BY task_type ASC, {_RANKING}",
        params,
    )
    return [
        CliStats(
            cli=cli, task_type=kind, samples=samples, success_rate=success_rate,
            avg_duration=avg_duration, avg_retries=avg_retries,
        )
        for cli, kind, samples, success_rate, avg_duration, avg_retries in rows
    ]


def best_cli(
    store: EventStore,
    task_type: str,
    min_samples: int = 5,
    days: float = 30,
    *,
    now: datetime | None = None,
) -> str | None:
    """The cli that did ``task_type`` best over the last ``days`` days, among clis with
    at least ``min_samples`` metrics for it (fewer is too little evidence to route
    on); ``None`` if no cli has enough."""
    required_text("task_type", task_type)
    count("min_samples", min_samples, minimum=1)
    for stats in compare_clis(store, task_type, days, now=now):
        if stats.samples >= min_samples:
            return stats.cli
    return None
