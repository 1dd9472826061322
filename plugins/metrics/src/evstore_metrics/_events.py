"""The ``metric_recorded`` event type and its payload model.

The model is strict, so ``success="yes"``, ``retry_count=1.5`` or a negative duration
is rejected at append time instead of skewing the routing statistics later. Unknown
extra fields are ignored rather than refused, so a log written by a newer version of
this plugin still replays here.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from evstore import EventType

METRIC_RECORDED: Final = "metric_recorded"
DEFAULT_TASK_TYPE: Final = "other"


class MetricRecorded(BaseModel):
    """Payload of ``metric_recorded``: how one piece of work by a role went.

    The role is the event's ``role`` (required) and the workflow its ``workflow_id``;
    the metric's id is the event's position and its time the event's timestamp.
    """

    # protected_namespaces: pydantic before 2.10 warns on every import that `model_score`
    # might clash with its `model_` methods (it does not); evstore allows pydantic 2.6.
    model_config = ConfigDict(strict=True, frozen=True, protected_namespaces=())

    cli: str = Field(min_length=1)
    task_type: str = Field(default=DEFAULT_TASK_TYPE, min_length=1)
    success: bool
    duration_seconds: float = Field(ge=0, allow_inf_nan=False)
    retry_count: int = Field(default=0, ge=0)
    token_usage: int | None = Field(default=None, ge=0)
    error_category: str | None = None
    model_score: float | None = Field(default=None, allow_inf_nan=False)


EVENT_TYPES: Final = (
    EventType(
        METRIC_RECORDED,
        payload=MetricRecorded,
        requires=("role",),
        description="one measured piece of work: role, cli, task type, success, duration, retries",
    ),
)
