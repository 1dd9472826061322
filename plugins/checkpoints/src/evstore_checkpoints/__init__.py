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

from evstore import Plugin

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

# What this plugin contributes; the plugin manager generates the hooks from it.
evstore_plugin = Plugin(
    "checkpoints",
    event_types=EVENT_TYPES,
    projections=[build_projection],
    ui=register_ui,
)

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
