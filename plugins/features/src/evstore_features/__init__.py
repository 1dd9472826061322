"""evstore-features: features, phases and components, with the completion cascade.

Installs the ``features`` projection (tables ``features``, ``phases``, ``components``
with the original supervisor's columns) and the ``features_cascade`` reactor, which
appends phase_/feature_ completed or failed events when every child has ended. See
``_projection`` for what each event does and ``_cascade`` for the cascade rules.

Use it through the entry point, or explicitly::

    import evstore_features
    store = EventStore.open(path, plugins=[evstore_features], autoload=False)
    evstore_features.create_feature(store, "F1", "Login")
"""

from __future__ import annotations

from evstore import Plugin

from ._cascade import CASCADE, REACTOR_NAME
from ._commands import (
    complete_component,
    create_component,
    create_feature,
    create_phase,
    fail_component,
    set_component_dependencies,
    start_component,
    update_component,
    update_feature_status,
    update_phase_status,
)
from ._events import (
    COMPONENT_COMPLETED,
    COMPONENT_CREATED,
    COMPONENT_DEPENDENCIES_SET,
    COMPONENT_FAILED,
    COMPONENT_STARTED,
    COMPONENT_STATUS_CHANGED,
    EVENT_TYPES,
    FEATURE_COMPLETED,
    FEATURE_CREATED,
    FEATURE_FAILED,
    FEATURE_STATUS_CHANGED,
    PHASE_COMPLETED,
    PHASE_CREATED,
    PHASE_FAILED,
    PHASE_STATUS_CHANGED,
)
from ._models import Component, ComponentStatus, Feature, FeatureStatus, Interface, Phase, PhaseStatus
from ._projection import PROJECTION_NAME, TABLES, build_projection
from ._queries import (
    get_component,
    get_components,
    get_components_by_status,
    get_feature,
    get_phase,
    get_phases,
    get_ready_components,
    is_feature_blocked,
)
from ._ui import register_ui

# What this plugin contributes; the plugin manager generates the hooks from it.
evstore_plugin = Plugin(
    "features",
    event_types=EVENT_TYPES,
    projections=[build_projection],
    reactors=[CASCADE],
    ui=register_ui,
)


__all__ = [
    "COMPONENT_COMPLETED",
    "COMPONENT_CREATED",
    "COMPONENT_DEPENDENCIES_SET",
    "COMPONENT_FAILED",
    "COMPONENT_STARTED",
    "COMPONENT_STATUS_CHANGED",
    "EVENT_TYPES",
    "FEATURE_COMPLETED",
    "FEATURE_CREATED",
    "FEATURE_FAILED",
    "FEATURE_STATUS_CHANGED",
    "PHASE_COMPLETED",
    "PHASE_CREATED",
    "PHASE_FAILED",
    "PHASE_STATUS_CHANGED",
    "PROJECTION_NAME",
    "REACTOR_NAME",
    "TABLES",
    "Component",
    "ComponentStatus",
    "Feature",
    "FeatureStatus",
    "Interface",
    "Phase",
    "PhaseStatus",
    "complete_component",
    "create_component",
    "create_feature",
    "create_phase",
    "fail_component",
    "get_component",
    "get_components",
    "get_components_by_status",
    "get_feature",
    "get_phase",
    "get_phases",
    "get_ready_components",
    "is_feature_blocked",
    "set_component_dependencies",
    "start_component",
    "update_component",
    "update_feature_status",
    "update_phase_status",
]
