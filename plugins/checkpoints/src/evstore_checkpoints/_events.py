"""The checkpoint event types and their payload models.

The models are strict: ``"yes"`` is not a status and ``1`` is not a checkpoint id, so a
caller's mistake is rejected at append time instead of surfacing later as an odd row.
Unknown extra fields are ignored rather than refused, so a log written by a newer
version of this plugin still replays here.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from evstore import EventType

CHECKPOINT_CREATED: Final = "checkpoint_created"
CHECKPOINT_RESTORED: Final = "checkpoint_restored"

# The status a checkpoint_restored event gives the checkpoint it names.
RESTORED_STATUS: Final = "restored"


class CheckpointCreated(BaseModel):
    """Payload of ``checkpoint_created``. The workflow is the event's ``workflow_id``
    and the step its ``step_id`` (optional: without one the checkpoint is the whole
    workflow's, as the original allowed); the checkpoint's id is the event's position."""

    model_config = ConfigDict(strict=True, frozen=True)

    git_sha: str = Field(min_length=1)
    context: dict[str, Any]
    status: str = Field(default="active", min_length=1)


class CheckpointRestored(BaseModel):
    """Payload of ``checkpoint_restored``: which checkpoint the workflow went back to."""

    model_config = ConfigDict(strict=True, frozen=True)

    checkpoint_id: int = Field(ge=1)


EVENT_TYPES: Final = (
    EventType(
        CHECKPOINT_CREATED,
        payload=CheckpointCreated,
        description="a recovery point of a workflow: the step, the git sha and the context",
    ),
    EventType(
        CHECKPOINT_RESTORED,
        payload=CheckpointRestored,
        description="a workflow went back to a checkpoint; the checkpoint becomes 'restored'",
    ),
)
