"""The step event types this plugin declares, with their payload models.

Every step event must name its step (``step_id``); ``step_started`` must also name the
role doing the step, because the original silently dropped a step without one. The
kernel checks both, and validates payloads against these models, before anything is
written. Unknown payload keys are accepted and kept in the log.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

from evstore import EventType

from ._status import StepStatus

STEP_STARTED: Final = "step_started"
STEP_APPLYING: Final = "step_applying"
STEP_COMPLETED: Final = "step_completed"
STEP_FAILED: Final = "step_failed"
STEP_RETRIED: Final = "step_retried"
STEP_STATUS_CHANGED: Final = "step_status_changed"


class StepStarted(BaseModel):
    """Payload of ``step_started``."""

    gates: list[str] = Field(default_factory=list)
    """Names of the gates the step must pass; stored as JSON in ``steps.gates``."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Free-form context of the step; stored as JSON in ``steps.context``."""


class StepCompleted(BaseModel):
    """Payload of ``step_completed``."""

    output: dict[str, Any] | None = None
    """What the step produced; stored as JSON in ``steps.output``."""


class StepFailed(BaseModel):
    """Payload of ``step_failed``."""

    error: str | None = None
    """Why the step failed; stored in ``steps.error``."""


class StepStatusChanged(BaseModel):
    """Payload of ``step_status_changed``: the status, output and error a step has from
    now on, exactly as given (``None`` clears), as the original's
    ``update_step(step_id, status, output=None, error=None)`` wrote them."""

    status: StepStatus
    """Any ``StepStatus``; a string such as ``"blocked"`` is accepted and checked."""
    output: dict[str, Any] | None = None
    """Stored as JSON in ``steps.output``; ``None`` clears it."""
    error: str | None = None
    """Stored in ``steps.error``; ``None`` clears it."""


_STEP: Final = ("step_id",)

EVENT_TYPES: Final = (
    EventType(
        STEP_STARTED,
        payload=StepStarted,
        requires=("role", "step_id"),
        description="a role started a step (payload: gates, context)",
    ),
    EventType(
        STEP_APPLYING,
        requires=_STEP,
        description="a step's changes are being applied (a crash-recovery marker)",
    ),
    EventType(
        STEP_COMPLETED,
        payload=StepCompleted,
        requires=_STEP,
        description="a step finished (payload: output)",
    ),
    EventType(STEP_FAILED, payload=StepFailed, requires=_STEP, description="a step failed (payload: error)"),
    EventType(STEP_RETRIED, requires=_STEP, description="a step is being tried again"),
    EventType(
        STEP_STATUS_CHANGED,
        payload=StepStatusChanged,
        requires=_STEP,
        description="a step's status, output and error are set (payload: status, output, error)",
    ),
)
