"""evstore-steps: the ``steps`` table, projected from step events.

Declares ``step_started`` (requires ``role`` and ``step_id``; payload ``gates``,
``context``), ``step_applying``, ``step_completed`` (payload ``output``), ``step_failed``
(payload ``error``), ``step_retried`` and ``step_status_changed`` (payload ``status``,
``output``, ``error``; each requires ``step_id``), and keeps the
original supervisor's ``steps(id, workflow_id, role, status, gates, context, output,
error, created_at, updated_at)`` table (plus ``retry_count`` and ``created_position``)
up to date from them. Read it with :func:`get_step` and :func:`list_steps`, or with
raw SQL; set a step's status with :func:`update_step`.
"""

from __future__ import annotations

from evstore import Plugin

from ._commands import update_step
from ._events import (
    EVENT_TYPES,
    STEP_APPLYING,
    STEP_COMPLETED,
    STEP_FAILED,
    STEP_RETRIED,
    STEP_STARTED,
    STEP_STATUS_CHANGED,
    StepCompleted,
    StepFailed,
    StepStarted,
    StepStatusChanged,
)
from ._projection import PROJECTION_NAME, build_projection
from ._queries import Step, get_step, list_steps
from ._status import StepStatus
from ._ui import register_ui

# What this plugin contributes; the plugin manager generates the hooks from it.
evstore_plugin = Plugin(
    "steps",
    event_types=EVENT_TYPES,
    projections=[build_projection],
    ui=register_ui,
)

__all__ = [
    "PROJECTION_NAME",
    "STEP_APPLYING",
    "STEP_COMPLETED",
    "STEP_FAILED",
    "STEP_RETRIED",
    "STEP_STARTED",
    "STEP_STATUS_CHANGED",
    "Step",
    "StepCompleted",
    "StepFailed",
    "StepStarted",
    "StepStatus",
    "StepStatusChanged",
    "get_step",
    "list_steps",
    "update_step",
]
