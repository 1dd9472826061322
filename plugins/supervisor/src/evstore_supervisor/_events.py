"""``EventType`` and ``Event``: the original's event API, mapped onto evstore's envelope.

``Event`` keeps the original's fields and adds the three evstore knows besides (all
optional): ``version`` (the event's number within its workflow, set on read),
``event_id`` (the idempotency key: appending an event whose ``event_id`` is already
stored returns the stored position instead of storing it twice) and ``metadata``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evstore import NewEvent


class EventType(enum.StrEnum):
    """The event types of the original (value = lower-case name), ``GATE_SKIPPED``
    (which callers used but the original forgot to define), and the event types the
    evstore projections added.

    Where an event type is not a member (declared by another plugin, or written by a
    newer version), ``Event.event_type`` holds the plain string instead.
    """

    # The original's members.
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    STEP_STARTED = "step_started"
    STEP_APPLYING = "step_applying"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRIED = "step_retried"
    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
    FEATURE_CREATED = "feature_created"
    FEATURE_COMPLETED = "feature_completed"
    PHASE_CREATED = "phase_created"
    PHASE_COMPLETED = "phase_completed"
    COMPONENT_CREATED = "component_created"
    COMPONENT_STARTED = "component_started"
    COMPONENT_COMPLETED = "component_completed"
    COMPONENT_FAILED = "component_failed"
    CHECKPOINT_CREATED = "checkpoint_created"
    CHECKPOINT_RESTORED = "checkpoint_restored"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_DENIED = "approval_denied"
    APPROVAL_SKIPPED = "approval_skipped"
    METADATA_SET = "metadata_set"
    # Used by callers of the original, which never defined it.
    GATE_SKIPPED = "gate_skipped"
    # Every write is an event now: the ones the original did with UPDATE statements.
    STEP_STATUS_CHANGED = "step_status_changed"
    FEATURE_STATUS_CHANGED = "feature_status_changed"
    FEATURE_FAILED = "feature_failed"
    PHASE_STATUS_CHANGED = "phase_status_changed"
    PHASE_FAILED = "phase_failed"
    COMPONENT_STATUS_CHANGED = "component_status_changed"
    COMPONENT_DEPENDENCIES_SET = "component_dependencies_set"
    METRIC_RECORDED = "metric_recorded"
    # Graph executions (evstore-graph).
    GRAPH_SAVED = "graph_saved"
    EXECUTION_STARTED = "execution_started"
    NODE_READY = "node_ready"
    NODE_CLAIMED = "node_claimed"
    NODE_COMPLETED = "node_completed"
    NODE_FAILED = "node_failed"
    NODE_SKIPPED = "node_skipped"
    NODE_RECLAIMED = "node_reclaimed"
    LOOP_ITERATED = "loop_iterated"
    EXECUTION_COMPLETED = "execution_completed"
    EXECUTION_FAILED = "execution_failed"
    EXECUTION_CANCELLED = "execution_cancelled"
    EXECUTION_INTERRUPTED = "execution_interrupted"
    EXECUTION_RESUMED = "execution_resumed"
    EXECUTION_EVENT_RECORDED = "execution_event_recorded"


_MEMBERS: Final[dict[str, EventType]] = {member.value: member for member in EventType}

ORIGINAL_TYPE_NAMES: Final = frozenset(
    member.value for member in list(EventType)[: list(EventType).index(EventType.GATE_SKIPPED) + 1]
)
"""The types the original's ``append_event`` took: the members declared before and up to
``GATE_SKIPPED`` (its 25 and the one its callers used). The facade stores any event of
these as given, whatever its fields and payload."""


def event_type_of(value: object) -> EventType | str:
    """The member for a known event type string, else the string itself."""
    if isinstance(value, EventType):
        return value
    if isinstance(value, enum.Enum):  # another str enum of event types
        value = value.value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"event_type must be a non-empty string or an EventType, got {value!r:.60}")
    return _MEMBERS.get(value, value)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One event of the log, as the original's ``Event``: ``Event(workflow_id="w",
    event_type="step_started", step_id="s", role="r")`` and ``Event(**some_dict)`` work.

    ``event_type`` is an ``EventType`` member when the type is one, and the plain string
    otherwise, so reading a log that holds types this version does not know never fails.
    Appending checks the type against what the store's plugins declare.

    ``status`` (and ``role``, ``step_id``, ``component_id``) may be given as a str enum
    such as ``StepStatus.COMPLETED``; pydantic stores its plain value.

    ``timestamp`` defaults to now, in UTC. A naive one is taken as UTC, as every time
    the original wrote was (``datetime.now(UTC)``, SQLite's ``CURRENT_TIMESTAMP``) and as
    ``evstore import-seed`` reads them: never as the machine's local time, so one history
    gives the same rows on every machine.
    """

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    workflow_id: str
    event_type: EventType | str
    role: str | None = None
    step_id: str | None = None
    component_id: str | None = None
    status: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime = Field(default_factory=_utc_now)
    # evstore's additions; None until the event is stored (event_id: a fresh one is
    # chosen at append unless given; give one to make a retried append idempotent).
    version: int | None = None
    event_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("event_type", mode="before")
    @classmethod
    def _known_type_as_member(cls, value: object) -> EventType | str:
        return event_type_of(value)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value


def to_new_event(event: Event) -> NewEvent:
    """The kernel's envelope for ``event`` (its ``id`` and ``version`` are assigned by the
    store, so they are not passed on)."""
    name = _name(event.event_type)
    if event.event_id is None:
        return NewEvent(
            workflow_id=event.workflow_id, event_type=name, role=event.role, step_id=event.step_id,
            component_id=event.component_id, status=event.status, payload=event.payload,
            metadata=event.metadata, timestamp=event.timestamp,
        )
    return NewEvent(
        workflow_id=event.workflow_id, event_type=name, role=event.role, step_id=event.step_id,
        component_id=event.component_id, status=event.status, payload=event.payload,
        metadata=event.metadata, timestamp=event.timestamp, event_id=event.event_id,
    )


def event_type_names(event_types: Iterable[EventType | str] | str) -> list[str]:
    """The names to filter on for ``get_events(..., event_types=...)``; a single type
    is accepted too."""
    items = [event_types] if isinstance(event_types, str) else event_types
    return [_name(event_type_of(item)) for item in items]


def _name(event_type: EventType | str) -> str:
    return event_type.value if isinstance(event_type, EventType) else event_type
