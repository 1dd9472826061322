"""The ``metrics`` table, kept from the log.

Columns are the original supervisor's: ``metrics(id, timestamp, role, cli, task_type,
workflow_id, success, duration_seconds, retry_count, token_usage, error_category,
model_score)``, with ``success`` as 0/1. ``id`` is the event's position and
``timestamp`` the event's (aware UTC ISO-8601 with microseconds, the log's one format),
so text order of ``timestamp`` is time order and a rebuild gives identical rows.
"""

from __future__ import annotations

from evstore import Migration, Projection, RecordedEvent, ScopedConnection

from ._events import METRIC_RECORDED, MetricRecorded

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


def on_metric_recorded(db: ScopedConnection, event: RecordedEvent) -> None:
    # Validated again (cheaply) so defaults apply to payloads that left fields out.
    metric = MetricRecorded.model_validate(event.payload)
    db.execute(
        "INSERT INTO metrics (id, timestamp, role, cli, task_type, workflow_id, success, "
        "duration_seconds, retry_count, token_usage, error_category, model_score) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.id,
            event.timestamp_text,
            event.role,
            metric.cli,
            metric.task_type,
            event.workflow_id,
            1 if metric.success else 0,
            metric.duration_seconds,
            metric.retry_count,
            metric.token_usage,
            metric.error_category,
            metric.model_score,
        ),
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
    return projection
