"""The values of ``steps.status``, shared by the payload models and the queries."""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    """The values of ``steps.status``: the original supervisor's ``StepStatus`` plus
    ``applying`` (set by ``step_applying``). A ``StrEnum``, so it compares equal to the
    plain strings raw SQL returns."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    AWAITING_APPROVAL = "awaiting_approval"
    APPLYING = "applying"
