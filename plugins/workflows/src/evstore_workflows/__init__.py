"""evstore-workflows: the ``workflows`` table, projected from workflow events.

Declares ``workflow_started`` (payload ``initial_step``, ``context``),
``workflow_completed`` and ``workflow_failed`` (payload ``error``), and keeps the
original supervisor's ``workflows(id, current_step, status, context, created_at,
updated_at)`` table (plus ``error`` and ``created_position``) up to date from them and
from ``step_started`` (declared by evstore-steps). Read it with :func:`get_workflow`
and :func:`list_workflows`, or with raw SQL.
"""

from __future__ import annotations

from evstore import Plugin

from ._events import (
    EVENT_TYPES,
    WORKFLOW_COMPLETED,
    WORKFLOW_FAILED,
    WORKFLOW_STARTED,
    WorkflowFailed,
    WorkflowStarted,
)
from ._projection import PROJECTION_NAME, build_projection
from ._queries import Workflow, WorkflowStatus, get_workflow, list_workflows
from ._ui import register_ui

# What this plugin contributes; the plugin manager generates the hooks from it.
evstore_plugin = Plugin(
    "workflows",
    event_types=EVENT_TYPES,
    projections=[build_projection],
    ui=register_ui,
)

__all__ = [
    "PROJECTION_NAME",
    "WORKFLOW_COMPLETED",
    "WORKFLOW_FAILED",
    "WORKFLOW_STARTED",
    "Workflow",
    "WorkflowFailed",
    "WorkflowStarted",
    "WorkflowStatus",
    "get_workflow",
    "list_workflows",
]
