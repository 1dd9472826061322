"""Statuses and read models, with the original supervisor's names and fields."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class FeatureStatus(StrEnum):
    PLANNING = "planning"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    COMPLETED = "completed"
    FAILED = "failed"


class PhaseStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class ComponentStatus(StrEnum):
    PENDING = "pending"
    IMPLEMENTING = "implementing"
    TESTING = "testing"
    REVIEW = "review"
    COMPLETED = "completed"
    FAILED = "failed"


TERMINAL = ("completed", "failed")
"""The terminal status values, shared by all three levels."""

# What reopens a level (the projection's rules, applied alike by its per-event and its
# batch handlers): work arriving at an ended phase or feature reopens it, and a
# component becoming active also moves a pending phase and a planning feature along.
ENDED = frozenset(TERMINAL)
PHASE_NOT_RUNNING = frozenset({"completed", "failed", "pending"})
FEATURE_NOT_RUNNING = frozenset({"completed", "failed", "planning"})
ACTIVE_COMPONENT = frozenset({"implementing", "testing", "review"})


def _now() -> datetime:
    return datetime.now(UTC)


class Interface(BaseModel):
    """A contract a phase exposes to later phases; ``locked`` once others rely on it.

    Strict: an interface arrives inside an event payload, and a wrong type there must be
    refused at append rather than coerced differently on some later replay.
    """

    model_config = ConfigDict(strict=True)

    name: str
    type: str
    definition: str
    locked: bool = False


class Feature(BaseModel):
    id: str
    title: str
    description: str = ""
    status: FeatureStatus = FeatureStatus.PLANNING
    created_at: AwareDatetime = Field(default_factory=_now)
    completed_at: AwareDatetime | None = None


class Phase(BaseModel):
    id: str
    feature_id: str
    title: str
    sequence: int
    status: PhaseStatus = PhaseStatus.PENDING
    interfaces: list[Interface] = Field(default_factory=list)
    created_at: AwareDatetime = Field(default_factory=_now)


class Component(BaseModel):
    id: str
    phase_id: str
    title: str
    description: str = ""
    files: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    status: ComponentStatus = ComponentStatus.PENDING
    assigned_role: str | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    created_at: AwareDatetime = Field(default_factory=_now)
