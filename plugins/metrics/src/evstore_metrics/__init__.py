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

from collections.abc import Callable

from evstore import EventType, Projection, hookimpl
from evstore.ui import Page, Panel

from ._events import DEFAULT_TASK_TYPE, EVENT_TYPES, METRIC_RECORDED, MetricRecorded
from ._projection import PROJECTION_NAME, build_projection
from ._queries import COLUMNS, get_metrics, recent_failures, record_metric
from ._stats import CliStats, RoleStats, best_cli, compare_clis, role_stats
from ._ui import register_ui

# The name explicit registration (plugins=[evstore_metrics]) uses: the entry point's.
evstore_plugin_name = "metrics"

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


@hookimpl
def evstore_register_event_types(register: Callable[[EventType], None]) -> None:
    for event_type in EVENT_TYPES:
        register(event_type)


@hookimpl
def evstore_register_projections(register: Callable[[Projection], None]) -> None:
    register(build_projection())


@hookimpl
def evstore_register_ui(register: Callable[[Page | Panel], None]) -> None:
    register_ui(register)
