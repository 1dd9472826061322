"""evstore-metrics: execution metrics as events, with queries for adaptive routing.

Event type: ``metric_recorded`` (``role`` required; payload ``cli``, ``task_type="other"``,
``success``, ``duration_seconds``, ``retry_count=0``, ``token_usage``,
``error_category``, ``model_score``). Table: ``metrics(id, timestamp, role, cli,
task_type, workflow_id, success, duration_seconds, retry_count, token_usage,
error_category, model_score)``, where ``id`` is the event's position, ``timestamp`` the
event's and ``success`` 0 or 1.

Installed, it is found through the ``evstore`` entry point ``metrics``; in tests, pass
the module itself: ``EventStore.open(path, plugins=[evstore_metrics])``.
"""

from __future__ import annotations

from evstore import Plugin

from ._events import DEFAULT_TASK_TYPE, EVENT_TYPES, METRIC_RECORDED, MetricRecorded
from ._projection import PROJECTION_NAME, build_projection
from ._queries import COLUMNS, get_metrics, recent_failures, record_metric
from ._stats import CliStats, RoleStats, best_cli, compare_clis, role_stats
from ._ui import register_ui

# What this plugin contributes; the plugin manager generates the hooks from it.
evstore_plugin = Plugin(
    "metrics",
    event_types=EVENT_TYPES,
    projections=[build_projection],
    ui=register_ui,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_TASK_TYPE",
    "METRIC_RECORDED",
    "PROJECTION_NAME",
    "CliStats",
    "MetricRecorded",
    "RoleStats",
    "best_cli",
    "compare_clis",
    "get_metrics",
    "recent_failures",
    "record_metric",
    "role_stats",
]
