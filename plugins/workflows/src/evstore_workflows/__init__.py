"""evstore-workflows: the ``workflows`` table, projected from workflow events.

Declares ``workflow_started`` (payload ``initial_step``, ``context``),
``workflow_completed`` and ``workflow_failed`` (payload ``error``), and keeps the
original supervisor's ``workflows(id, current_step, status, context, created_at,
updated_at)`` table (plus ``error`` and ``created_position``) up to date from them and
from ``step_started`` (declared by evstore-steps). Read it with :func:`get_workflow`
and :func:`list_workflows`, or with raw SQL.
"""

from __future__ import annotations

from collections.abc import Callable

from evstore import EventType, Projection, hookimpl
from evstore.ui import Page, Panel

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

evstore_plugin_name = "workflows"

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
