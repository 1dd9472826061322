"""The ``checkpoints`` table, kept from the log.

Columns are the original supervisor's: ``checkpoints(id, workflow_id, step_id, git_sha,
context_snapshot, status, timestamp)``. Unlike the original there is no foreign key to
``workflows``: a checkpoint of a workflow that has no ``workflows`` row (or a store
without the workflows plugin) is kept, and a rebuild never trips over one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json

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
    return encode_json(context)


# The kernel validated each payload on append, so handlers read it as stored, with the
# models' defaults: validating it again cost as much as the insert. A payload that fails
# the quick check (only in a log written while this plugin was not loaded) goes through
# the model, which raises, or gives the values it would have given.


def _created_looks_valid(p: Mapping[str, Any]) -> bool:
    git_sha, status = p.get("git_sha"), p.get("status", "active")
    return (type(git_sha) is str and git_sha != "" and type(p.get("context")) is dict
            and type(status) is str and status != "")


def on_checkpoint_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload: Mapping[str, Any] = event.payload
    if not _created_looks_valid(payload):
        payload = CheckpointCreated.model_validate(payload).model_dump()
    db.execute(
        "INSERT INTO checkpoints (id, workflow_id, step_id, git_sha, context_snapshot, status, "
        "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            event.id,
            event.workflow_id,
            event.step_id,
            payload["git_sha"],
            encode_context(payload["context"]),
            payload.get("status", "active"),
            event.timestamp_text,
        ),
    )


def on_checkpoint_restored(db: ScopedConnection, event: RecordedEvent) -> None:
    # A restore naming no known checkpoint changes nothing. It cannot be refused here:
    # the event is already in the log, and raising would leave the projection failing
    # on it forever. ``restore_checkpoint`` checks the id before appending.
    checkpoint_id = event.payload.get("checkpoint_id")
    if type(checkpoint_id) is not int or checkpoint_id < 1:
        checkpoint_id = CheckpointRestored.model_validate(event.payload).checkpoint_id
    db.execute("UPDATE checkpoints SET status = ? WHERE id = ?", (RESTORED_STATUS, checkpoint_id))


def build_projection() -> Projection:
    projection = Projection(
        PROJECTION_NAME,
        # 2: JSON columns written by evstore.encode_json, the kernel's own encoder (a tiny
        # float is 1e-7 there, 1e-07 before): the bump rebuilds old rows to match.
        version=2,
        tables=(TABLE,),
        migrations=(Migration("0001_create_checkpoints", _SCHEMA),),
        description="checkpoints(id, workflow_id, step_id, git_sha, context_snapshot, status, timestamp)",
    )
    projection.on(CHECKPOINT_CREATED)(on_checkpoint_created)
    projection.on(CHECKPOINT_RESTORED)(on_checkpoint_restored)
    return projection
