"""The ``checkpoints`` table, kept from the log.

Columns are the original supervisor's: ``checkpoints(id, workflow_id, step_id, git_sha,
context_snapshot, status, timestamp)``. Unlike the original there is no foreign key to
``workflows``: a checkpoint of a workflow that has no ``workflows`` row (or a store
without the workflows plugin) is kept, and a rebuild never trips over one.
"""

from __future__ import annotations

import json

from evstore import Migration, Projection, RecordedEvent, ScopedConnection

from ._events import (
    CHECKPOINT_CREATED,
    CHECKPOINT_RESTORED,
    RESTORED_STATUS,
    CheckpointCreated,
    CheckpointRestored,
)

PROJECTION_NAME = "checkpoints"
TABLE = "checkpoints"

_SCHEMA = """
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,          -- the checkpoint_created event's global position
    workflow_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    git_sha TEXT NOT NULL,
    context_snapshot TEXT NOT NULL,  -- JSON object
    status TEXT NOT NULL,
    timestamp TEXT NOT NULL          -- the event's timestamp (aware UTC ISO-8601)
);
-- "latest checkpoint of a workflow" walks this index backwards: newest position first.
CREATE INDEX checkpoints_workflow_id ON checkpoints (workflow_id, id);
"""


def encode_context(context: dict[str, object]) -> str:
    """The stored form of a context: compact JSON, the same text for the same event on
    every replay (key order is the payload's own, which the log preserves)."""
    return json.dumps(context, ensure_ascii=False, separators=(",", ":"))


def on_checkpoint_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = CheckpointCreated.model_validate(event.payload)
    db.execute(
        "INSERT INTO checkpoints (id, workflow_id, step_id, git_sha, context_snapshot, status, "
        "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            event.id,
            event.workflow_id,
            event.step_id,
            payload.git_sha,
            encode_context(payload.context),
            payload.status,
            event.timestamp_text,
        ),
    )


def on_checkpoint_restored(db: ScopedConnection, event: RecordedEvent) -> None:
    # A restore naming no known checkpoint changes nothing. It cannot be refused here:
    # the event is already in the log, and raising would leave the projection failing
    # on it forever. ``restore_checkpoint`` checks the id before appending.
    payload = CheckpointRestored.model_validate(event.payload)
    db.execute(
        "UPDATE checkpoints SET status = ? WHERE id = ?", (RESTORED_STATUS, payload.checkpoint_id)
    )


def build_projection() -> Projection:
    projection = Projection(
        PROJECTION_NAME,
        version=1,
        tables=(TABLE,),
        migrations=(Migration("0001_create_checkpoints", _SCHEMA),),
        description="checkpoints(id, workflow_id, step_id, git_sha, context_snapshot, status, timestamp)",
    )
    projection.on(CHECKPOINT_CREATED)(on_checkpoint_created)
    projection.on(CHECKPOINT_RESTORED)(on_checkpoint_restored)
    return projection
