"""The ``metrics`` table, kept from the log.

Columns are the original supervisor's: ``metrics(id, timestamp, role, cli, task_type,
workflow_id, success, duration_seconds, retry_count, token_usage, error_category,
model_score)``, with ``success`` as 0/1. ``id`` is the event's position and
``timestamp`` the event's (aware UTC ISO-8601 with microseconds, the log's one format),
so text order of ``timestamp`` is time order and a rebuild gives identical rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evstore import Migration, Projection, RecordedEvent, ScopedConnection

from ._events import DEFAULT_TASK_TYPE, METRIC_RECORDED, MetricRecorded

PROJECTION_NAME = "metrics"
TABLE = "metrics"

# One index per query shape of _queries.py and _stats.py, and no more: each one costs
# every append of a metric.
_SCHEMA = """
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,              -- the metric_recorded event's global position
    timestamp TEXT NOT NULL,             -- the event's timestamp
    role TEXT NOT NULL,
    cli TEXT NOT NULL,
    task_type TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    success INTEGER NOT NULL CHECK (success IN (0, 1)),
    duration_seconds REAL NOT NULL,
    retry_count INTEGER NOT NULL,
    token_usage INTEGER,
    error_category TEXT,
    model_score REAL
);
CREATE INDEX metrics_timestamp ON metrics (timestamp);
CREATE INDEX metrics_role_timestamp ON metrics (role, timestamp);
CREATE INDEX metrics_task_type_timestamp ON metrics (task_type, timestamp);
CREATE INDEX metrics_workflow_timestamp ON metrics (workflow_id, timestamp);
CREATE INDEX metrics_failures ON metrics (timestamp) WHERE success = 0;
"""


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_number(value: Any) -> bool:
    return type(value) is float and math.isfinite(value)


def _is_duration(value: Any) -> bool:
    return type(value) is float and math.isfinite(value) and value >= 0


def _looks_valid(p: Mapping[str, Any]) -> bool:
    """A quick check of ``MetricRecorded``'s rules: what it accepts, the model accepts
    and leaves as it is."""
    cli, task_type = p.get("cli"), p.get("task_type", DEFAULT_TASK_TYPE)
    duration, token_usage = p.get("duration_seconds"), p.get("token_usage")
    error_category, model_score = p.get("error_category"), p.get("model_score")
    return (
        type(cli) is str and cli != ""
        and type(task_type) is str and task_type != ""
        and type(p.get("success")) is bool
        and _is_duration(duration)
        and _is_count(p.get("retry_count", 0))
        and (token_usage is None or _is_count(token_usage))
        and (error_category is None or type(error_category) is str)
        and (model_score is None or _is_number(model_score))
    )


_INSERT = (
    "INSERT INTO metrics (id, timestamp, role, cli, task_type, workflow_id, success, "
    "duration_seconds, retry_count, token_usage, error_category, model_score) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def on_metric_recorded(db: ScopedConnection, event: RecordedEvent) -> None:
    db.execute(_INSERT, _row(event))


def on_metrics_recorded(db: ScopedConnection, events: Sequence[RecordedEvent]) -> None:
    """Replay (rebuild, catch-up): the batch's rows in one executemany. A payload the
    model refuses raises here, and the kernel applies the batch again event by event."""
    db.executemany(_INSERT, [_row(event) for event in events])


def _row(event: RecordedEvent) -> tuple[Any, ...]:
    # The kernel validated the payload on append, so it is read as stored, with the
    # model's defaults; validating it again cost more than the insert. A payload that
    # fails the quick check (only in a log written while this plugin was not loaded)
    # goes through the model, which raises, or gives the values it would have given.
    payload: Mapping[str, Any] = event.payload
    if not _looks_valid(payload):
        payload = MetricRecorded.model_validate(payload).model_dump()
    return (
        event.id,
        event.timestamp_text,
        event.role,
        payload["cli"],
        payload.get("task_type", DEFAULT_TASK_TYPE),
        event.workflow_id,
        1 if payload["success"] else 0,
        payload["duration_seconds"],
        payload.get("retry_count", 0),
        payload.get("token_usage"),
        payload.get("error_category"),
        payload.get("model_score"),
    )


def build_projection() -> Projection:
    projection = Projection(
        PROJECTION_NAME,
        version=1,
        tables=(TABLE,),
        migrations=(Migration("0001_create_metrics", _SCHEMA),),
        description="metrics(id, timestamp, role, cli, task_type, workflow_id, success, ...)",
    )
    projection.on(METRIC_RECORDED)(on_metric_recorded)
    projection.on_batch(on_metrics_recorded)
    return projection
