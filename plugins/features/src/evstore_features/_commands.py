"""Command helpers: each appends one event and returns its global position.

Every change is an event (the original's ``update_*`` methods wrote tables directly, so
a rebuild reverted them). Helpers that need the feature id of a phase or component look
it up and append inside one transaction, so the row they read cannot change before
their event is written; an unknown phase or component raises ``ValueError`` and appends
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evstore import ANY, EventStore, ExpectedVersion, NewEvent, require_projection

from . import _events as ev
from ._models import ComponentStatus, FeatureStatus, Interface, PhaseStatus
from ._projection import PROJECTION_NAME


def create_feature(
    store: EventStore, feature_id: str, title: str, description: str = "",
    *, expected_version: ExpectedVersion | int = ANY,
) -> int:
    """Append feature_created. Creating a known id again corrects its title and
    description; pass ``expected_version=NO_STREAM`` to refuse that instead."""
    return store.append(
        NewEvent(workflow_id=feature_id, event_type=ev.FEATURE_CREATED,
                 payload={"id": feature_id, "title": title, "description": description}),
        expected_version=expected_version,
    )


def create_phase(
    store: EventStore, phase_id: str, feature_id: str, title: str, sequence: int,
    interfaces: Iterable[Interface | Mapping[str, Any]] | None = None,
) -> int:
    """Append phase_created (status pending)."""
    encoded = [Interface.model_validate(i).model_dump(mode="json") for i in interfaces or ()]
    return store.append(
        NewEvent(workflow_id=feature_id, event_type=ev.PHASE_CREATED,
                 payload={"id": phase_id, "feature_id": feature_id, "title": title,
                          "sequence": sequence, "interfaces": encoded}),
    )


def create_component(
    store: EventStore, component_id: str, phase_id: str, title: str,
    files: list[str] | None = None, depends_on: list[str] | None = None,
    assigned_role: str = "implementer", description: str = "", feature_id: str | None = None,
) -> int:
    """Append component_created (status pending). Without ``feature_id`` the feature is
    the phase's; an unknown phase then raises ``ValueError``."""
    if feature_id is None:
        require_projection(store, PROJECTION_NAME, package="evstore_features")
    with store.transaction():
        if feature_id is None:
            feature_id = store.reader.fetchvalue("SELECT feature_id FROM phases WHERE id = ?", (phase_id,))
            if feature_id is None:
                raise ValueError(
                    f"phase {phase_id!r} not found: create it with create_phase first, or pass "
                    "feature_id"
                )
        return store.append(
            NewEvent(workflow_id=feature_id, event_type=ev.COMPONENT_CREATED, component_id=component_id,
                     payload={"phase_id": phase_id, "feature_id": feature_id, "title": title,
                              "description": description, "files": list(files or ()),
                              "depends_on": list(depends_on or ()), "assigned_role": assigned_role}),
        )


def _component_event(
    store: EventStore, component_id: str, event_type: str, payload: Mapping[str, Any],
    status: str | None = None,
) -> int:
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    with store.transaction():
        feature_id = store.reader.fetchvalue(
            "SELECT feature_id FROM components WHERE id = ?", (component_id,)
        )
        if feature_id is None:
            raise ValueError(f"component {component_id!r} not found: create it with create_component first")
        return store.append(
            NewEvent(workflow_id=feature_id, event_type=event_type, component_id=component_id,
                     status=status, payload=payload)
        )


def start_component(store: EventStore, component_id: str) -> int:
    """Append component_started (→ implementing)."""
    return _component_event(store, component_id, ev.COMPONENT_STARTED, {}, "implementing")


def complete_component(store: EventStore, component_id: str, output: Mapping[str, Any] | None = None) -> int:
    """Append component_completed; the cascade may complete the phase and feature."""
    return _component_event(store, component_id, ev.COMPONENT_COMPLETED,
                            {"output": dict(output or {})}, "completed")


def fail_component(store: EventStore, component_id: str, error: str | None = None) -> int:
    """Append component_failed; the cascade may fail the phase and feature."""
    return _component_event(store, component_id, ev.COMPONENT_FAILED, {"error": error}, "failed")


def update_component(
    store: EventStore, component_id: str, status: ComponentStatus | str,
    output: Mapping[str, Any] | None = None, error: str | None = None,
) -> int:
    """Append component_status_changed: status, output and error become exactly these
    (``None`` clears), as the original's ``update_component`` did."""
    value = ComponentStatus(status).value
    payload = {"status": value, "output": None if output is None else dict(output), "error": error}
    return _component_event(store, component_id, ev.COMPONENT_STATUS_CHANGED, payload, value)


def set_component_dependencies(store: EventStore, component_id: str, depends_on: Iterable[str]) -> int:
    """Append component_dependencies_set: ``depends_on`` replaces the old list."""
    return _component_event(store, component_id, ev.COMPONENT_DEPENDENCIES_SET,
                            {"depends_on": list(depends_on)})


def update_feature_status(store: EventStore, feature_id: str, status: FeatureStatus | str) -> int:
    """Append feature_status_changed. Unknown feature: ``ValueError``."""
    value = FeatureStatus(status).value
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    with store.transaction():
        if store.reader.fetchvalue("SELECT 1 FROM features WHERE id = ?", (feature_id,)) is None:
            raise ValueError(f"feature {feature_id!r} not found: create it with create_feature first")
        return store.append(
            NewEvent(workflow_id=feature_id, event_type=ev.FEATURE_STATUS_CHANGED, status=value,
                     payload={"feature_id": feature_id, "status": value})
        )


def update_phase_status(store: EventStore, phase_id: str, status: PhaseStatus | str) -> int:
    """Append phase_status_changed; the cascade re-evaluates the phase's feature.
    Unknown phase: ``ValueError``."""
    value = PhaseStatus(status).value
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    with store.transaction():
        feature_id = store.reader.fetchvalue("SELECT feature_id FROM phases WHERE id = ?", (phase_id,))
        if feature_id is None:
            raise ValueError(f"phase {phase_id!r} not found: create it with create_phase first")
        return store.append(
            NewEvent(workflow_id=feature_id, event_type=ev.PHASE_STATUS_CHANGED, status=value,
                     payload={"phase_id": phase_id, "status": value})
        )
