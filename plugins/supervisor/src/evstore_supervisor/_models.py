"""The original's models and status enums.

Features, phases, components and interfaces are evstore-features' models, which have the
original's fields and defaults. ``Step`` is the facade's own: evstore-steps' ``Step`` is
frozen and has no defaults, while the original's could be built field by field and
changed; this one can, and adds the projection's ``retry_count``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

import evstore_steps
from evstore_features import (
    Component,
    ComponentStatus,
    Feature,
    FeatureStatus,
    Interface,
    Phase,
    PhaseStatus,
)
from evstore_steps import StepStatus

__all__ = [
    "Component",
    "ComponentStatus",
    "Feature",
    "FeatureStatus",
    "Interface",
    "Phase",
    "PhaseStatus",
    "Step",
    "StepStatus",
    "step_from_plugin",
]


def _now() -> datetime:
    return datetime.now(UTC)


class Step(BaseModel):
    """One step, as ``Database.get_step`` returns it. ``status`` may also be
    ``StepStatus.APPLYING`` (set by ``step_applying``), which the original could not
    read back."""

    id: str
    workflow_id: str
    role: str | None = None
    status: StepStatus = StepStatus.PENDING
    gates: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    retry_count: int = 0


def step_from_plugin(step: evstore_steps.Step) -> Step:
    # Same fields, already validated by the plugin: copy without validating again.
    return Step.model_construct(**dict(step))
