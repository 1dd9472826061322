"""The event types this plugin declares, with their payload models.

Every event's ``workflow_id`` is the feature id, as in the original. Payload models are
strict (``"3"`` is not a sequence number, ``"yes"`` is not a list), so a malformed event
is refused at append time instead of being stored and failing the projection later.
Unknown payload keys are ignored, so older readers accept newer writers' events.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evstore import EventType

from ._models import ComponentStatus, FeatureStatus, Interface, PhaseStatus

FEATURE_CREATED = "feature_created"
FEATURE_STATUS_CHANGED = "feature_status_changed"
FEATURE_COMPLETED = "feature_completed"
FEATURE_FAILED = "feature_failed"
PHASE_CREATED = "phase_created"
PHASE_STATUS_CHANGED = "phase_status_changed"
PHASE_COMPLETED = "phase_completed"
PHASE_FAILED = "phase_failed"
COMPONENT_CREATED = "component_created"
COMPONENT_STARTED = "component_started"
COMPONENT_COMPLETED = "component_completed"
COMPONENT_FAILED = "component_failed"
COMPONENT_STATUS_CHANGED = "component_status_changed"
COMPONENT_DEPENDENCIES_SET = "component_dependencies_set"

NonEmptyId = Annotated[str, Field(min_length=1, pattern=r"\S")]
# Statuses arrive as JSON strings; strict mode would accept only enum instances.
LooseFeatureStatus = Annotated[FeatureStatus, Field(strict=False)]
LoosePhaseStatus = Annotated[PhaseStatus, Field(strict=False)]
LooseComponentStatus = Annotated[ComponentStatus, Field(strict=False)]


class _Payload(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)


class FeatureCreated(_Payload):
    """``id`` is optional: the feature id is the event's ``workflow_id`` unless given here
    (the original wrote it in both places)."""

    title: str
    description: str = ""
    id: NonEmptyId | None = None


class FeatureTargeted(_Payload):
    """Payload of feature_completed / feature_failed: the feature is ``feature_id``,
    else the event's ``workflow_id``, as in the original."""

    feature_id: NonEmptyId | None = None


class FeatureStatusChanged(FeatureTargeted):
    status: LooseFeatureStatus


class PhaseCreated(_Payload):
    """The phase id is ``id`` (the original's key); ``phase_id`` is accepted too.
    ``feature_id`` defaults to the event's ``workflow_id``."""

    id: NonEmptyId
    feature_id: NonEmptyId | None = None
    title: str
    sequence: int
    interfaces: list[Interface] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _phase_id_alias(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "phase_id" in data:
            if "id" in data and data["id"] != data["phase_id"]:
                raise ValueError(
                    f"payload has id {data['id']!r} and phase_id {data['phase_id']!r}; give one"
                )
            data = {**data, "id": data["phase_id"]}
        elif "id" not in data:
            raise ValueError("phase_created needs the phase's id in the payload: 'id' (or 'phase_id')")
        return data


class PhaseTargeted(_Payload):
    """Payload of phase_completed / phase_failed."""

    phase_id: NonEmptyId


class PhaseStatusChanged(PhaseTargeted):
    status: LoosePhaseStatus


class ComponentCreated(_Payload):
    """The component id is the envelope's ``component_id``. ``feature_id`` defaults to the
    phase's feature (else the event's ``workflow_id``)."""

    phase_id: NonEmptyId
    feature_id: NonEmptyId | None = None
    title: str
    description: str = ""
    files: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    assigned_role: str | None = None


class ComponentCompleted(_Payload):
    # The original stored {} when a completion carried no output.
    output: dict[str, Any] | None = Field(default_factory=dict)


class ComponentFailed(_Payload):
    error: str | None = None


class ComponentStatusChanged(_Payload):
    """Sets status, output and error exactly as given (``None`` clears), as the
    original's ``update_component(status, output=None, error=None)`` did."""

    status: LooseComponentStatus
    output: dict[str, Any] | None = None
    error: str | None = None


class ComponentDependenciesSet(_Payload):
    depends_on: list[str]


_COMPONENT = ("component_id",)

EVENT_TYPES: tuple[EventType, ...] = (
    EventType(FEATURE_CREATED, FeatureCreated, description="a feature is planned (status planning)"),
    EventType(FEATURE_STATUS_CHANGED, FeatureStatusChanged, description="a feature's status is set"),
    EventType(FEATURE_COMPLETED, FeatureTargeted, description="every phase of a feature completed"),
    EventType(FEATURE_FAILED, FeatureTargeted, description="every phase ended and one failed"),
    EventType(PHASE_CREATED, PhaseCreated, description="a phase of a feature (status pending)"),
    EventType(PHASE_STATUS_CHANGED, PhaseStatusChanged, description="a phase's status is set"),
    EventType(PHASE_COMPLETED, PhaseTargeted, description="every component of a phase completed"),
    EventType(PHASE_FAILED, PhaseTargeted, description="every component ended and one failed"),
    EventType(COMPONENT_CREATED, ComponentCreated, _COMPONENT, "a component of a phase (pending)"),
    EventType(COMPONENT_STARTED, None, _COMPONENT, "a component is being implemented"),
    EventType(COMPONENT_COMPLETED, ComponentCompleted, _COMPONENT, "a component completed"),
    EventType(COMPONENT_FAILED, ComponentFailed, _COMPONENT, "a component failed"),
    EventType(COMPONENT_STATUS_CHANGED, ComponentStatusChanged, _COMPONENT, "a component's status is set"),
    EventType(COMPONENT_DEPENDENCIES_SET, ComponentDependenciesSet, _COMPONENT,
              "a component's dependencies are replaced"),
)
