"""evstore-supervisor: a drop-in replacement for the original supervisor ``Database``.

Change ``from supervisor.core.state import Database, Event, EventType`` (and the models
from ``supervisor.core.models``) to ``from evstore_supervisor import ...``; the rest of
the code keeps working::

    from evstore_supervisor import Database, Event, EventType

    db = Database(".supervisor/state.db")
    db.append_event(Event(workflow_id="wf-1", event_type=EventType.WORKFLOW_STARTED,
                          payload={"initial_step": "plan"}))
    db.create_feature("F1", "Login")

Underneath, ``Database`` is an evstore ``EventStore`` (``db.store``) with the workflows,
steps, features, checkpoints, metrics and graph plugins: every write is an event,
appended with its projection updates in one transaction, so ``rebuild_projections()``
reproduces every table. This package is also an evstore plugin (entry point
``supervisor``): it declares the original's event types no projection handles (gates,
approvals, metadata).
"""

from __future__ import annotations

from ._database import DEFAULT_DB_PATH, PLUGINS, Database
from ._events import Event, EventType
from ._models import (
    Component,
    ComponentStatus,
    Feature,
    FeatureStatus,
    Interface,
    Phase,
    PhaseStatus,
    Step,
    StepStatus,
)
from ._plugin import SUPERVISOR_EVENT_TYPES

# For pluggy, when the package is loaded through its entry point (not part of __all__).
from ._plugin import evstore_bench_workloads as evstore_bench_workloads
from ._plugin import evstore_plugin_name as evstore_plugin_name
from ._plugin import evstore_register_commands as evstore_register_commands
from ._plugin import evstore_register_event_types as evstore_register_event_types

__all__ = [
    "DEFAULT_DB_PATH",
    "PLUGINS",
    "SUPERVISOR_EVENT_TYPES",
    "Component",
    "ComponentStatus",
    "Database",
    "Event",
    "EventType",
    "Feature",
    "FeatureStatus",
    "Interface",
    "Phase",
    "PhaseStatus",
    "Step",
    "StepStatus",
]
