"""The workflow event types this plugin declares, with their payload models.

The kernel validates every appended payload against these models and rejects a bad one
before anything is written. Unknown payload keys are accepted and kept in the log:
callers of the original supervisor put extra details in payloads.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, Field

from evstore import EventType

WORKFLOW_STARTED: Final = "workflow_started"
WORKFLOW_COMPLETED: Final = "workflow_completed"
WORKFLOW_FAILED: Final = "workflow_failed"

# Declared by the steps plugin; the workflows projection handles it too, to keep
# ``workflows.current_step`` pointing at the step that started last.
STEP_STARTED: Final = "step_started"


class WorkflowStarted(BaseModel):
    """Payload of ``workflow_started``."""

    initial_step: str | None = None
    """The step the workflow starts with; becomes ``workflows.current_step``."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Free-form context of the run, stored as JSON in ``workflows.context``."""


class WorkflowFailed(BaseModel):
    """Payload of ``workflow_failed``."""

    error: str | None = None
    """Why the workflow failed; stored in ``workflows.error``."""


EVENT_TYPES: Final = (
    EventType(
        WORKFLOW_STARTED,
        payload=WorkflowStarted,
        description="a workflow run began (payload: initial_step, context)",
    ),
    EventType(WORKFLOW_COMPLETED, description="a workflow run finished successfully"),
    EventType(WORKFLOW_FAILED, payload=WorkflowFailed, description="a workflow run failed (payload: error)"),
)
