"""Recording metrics and reading them back as rows.

Rows are dicts with the ``metrics`` table's columns (``success`` as 0/1), as the
original's ``get_metrics`` returned. Newest first means by timestamp, then by position
for metrics recorded at the same instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evstore import EventStore, NewEvent, require_projection

from ._arguments import count, optional_text, window_start
from ._events import DEFAULT_TASK_TYPE, METRIC_RECORDED
from ._projection import PROJECTION_NAME

COLUMNS = (
    "id", "timestamp", "role", "cli", "task_type", "workflow_id", "success",
    "duration_seconds", "retry_count", "token_usage", "error_category", "model_score",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM metrics"
_NEWEST_FIRST = "ORDER BY timestamp DESC, id DESC"

# The only SQL fragments a filter can add: the text is fixed here, and the caller's
# value is always a bound parameter.
_FILTERS = {
    "role": "role = ?",
    "cli": "cli = ?",
    "task_type": "task_type = ?",
    "workflow_id": "workflow_id = ?",
}


def record_metric(
    store: EventStore,
    role: str,
    cli: str,
    workflow_id: str,
    success: bool,
    duration_seconds: float,
    task_type: str = DEFAULT_TASK_TYPE,
    retry_count: int = 0,
    token_usage: int | None = None,
    error_category: str | None = None,
    model_score: float | None = None,
    *,
    timestamp: datetime | None = None,
) -> int:
    """Append a ``metric_recorded`` event; returns its position, which is the metric's id.

    ``timestamp`` (an aware datetime) backdates the metric, for imports; by default it
    is the moment of the append. Bad values raise the store's ``InvalidEventError`` or
    ``PayloadValidationError`` and write nothing.
    """
    payload = {
        "cli": cli,
        "task_type": task_type,
        "success": success,
        "duration_seconds": duration_seconds,
        "retry_count": retry_count,
        "token_usage": token_usage,
        "error_category": error_category,
        "model_score": model_score,
    }
    return store.append(
        NewEvent(
            workflow_id=workflow_id,
            event_type=METRIC_RECORDED,
            role=role,
            payload=payload,
            timestamp=timestamp,
        )
    )


def get_metrics(
    store: EventStore,
    days: float = 30,
    role: str | None = None,
    cli: str | None = None,
    workflow_id: str | None = None,
    *,
    task_type: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Metrics of the last ``days`` days (up to ``now``, default the current time),
    newest first, optionally only those matching every given filter exactly.

    :raises TypeError: ``days`` is not an int or float (``bool`` included), or a
        filter is not a str.
    :raises ValueError: ``days`` is negative or not finite.
    """
    require_projection(store, PROJECTION_NAME, package="evstore_metrics")
    clauses = ["timestamp >= ?"]
    params: list[Any] = [window_start(days, now)]
    for name, value in (("role", role), ("cli", cli), ("task_type", task_type),
                        ("workflow_id", workflow_id)):
        if optional_text(name, value) is not None:
            clauses.append(_FILTERS[name])
            params.append(value)
    rows = store.reader.fetchall(f"{_SELECT} WHERE {' AND '.join(clauses)} {_NEWEST_FIRST}", params)
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def recent_failures(store: EventStore, limit: int = 20, role: str | None = None) -> list[dict[str, Any]]:
    """The ``limit`` newest failed metrics, of one role or of all; same dicts as
    :func:`get_metrics`."""
    require_projection(store, PROJECTION_NAME, package="evstore_metrics")
    count("limit", limit, minimum=0)
    if optional_text("role", role) is None:
        sql = f"{_SELECT} WHERE success = 0 {_NEWEST_FIRST} LIMIT ?"
        params: tuple[Any, ...] = (limit,)
    else:
        sql = f"{_SELECT} WHERE success = 0 AND {_FILTERS['role']} {_NEWEST_FIRST} LIMIT ?"
        params = (role, limit)
    return [dict(zip(COLUMNS, row, strict=True)) for row in store.reader.fetchall(sql, params)]
