"""evstore-checkpoints: recovery points of a workflow, as events.

Event types: ``checkpoint_created`` (``step_id`` optional; payload ``git_sha``,
``context``, ``status="active"``) and ``checkpoint_restored`` (payload
``checkpoint_id``). Table: ``checkpoints(id, workflow_id, step_id, git_sha,
context_snapshot, status, timestamp)``, where ``id`` is the position of the
``checkpoint_created`` event. A checkpoint needs no ``workflows`` row.

Installed, it is found through the ``evstore`` entry point ``checkpoints``; in tests,
pass the module itself: ``EventStore.open(path, plugins=[evstore_checkpoints])``.
"""

from __future__ import annotations

from collections.abc import Callable

from evstore import EventType, Projection, hookimpl
from evstore.ui import Page, Panel

from ._events import (
    CHECKPOINT_CREATED,
    CHECKPOINT_RESTORED,
    EVENT_TYPES,
    RESTORED_STATUS,
    CheckpointCreated,
    CheckpointRestored,
)
from ._projection import PROJECTION_NAME, build_projection
from ._queries import create_checkpoint, get_latest_checkpoint, list_checkpoints, restore_checkpoint
from ._ui import register_ui

# The name explicit registration (plugins=[evstore_checkpoints]) uses: the entry point's.
evstore_plugin_name = "checkpoints"

__all__ = [
    "CHECKPOINT_CREATED",
    "CHECKPOINT_RESTORED",
    "PROJECTION_NAME",
    "RESTORED_STATUS",
    "CheckpointCreated",
    "CheckpointRestored",
    "create_checkpoint",
    "get_latest_checkpoint",
    "list_checkpoints",
    "restore_checkpoint",
]


@hookimpl
def evstore_register_event_types(register: Callable[[EventType], None]) -> None:
    for event_type in EVENT_TYPES:
        register(event_type)


@hookimpl
def evstore_register_projections(register: Callable[[Projection], None]) -> None:
    register(build_projection())


@hookimpl
def evstore_register_ui(register: Callable[[Page | Panel], None]) -> None:
    register_ui(register)
