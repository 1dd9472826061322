"""The ``checkpoints`` table, kept from the log.

Columns are the original supervisor's: ``checkpoints(id, workflow_id, step_id, git_sha,
context_snapshot, status, timestamp)``. Unlike the original there is no foreign key to
``workflows``: a checkpoint of a workflow that has no ``workflows`` row (or a store
without the workflows plugin) is kept, and a rebuild never trips over one.

``step_id`` may be NULL, as in the original (``create_checkpoint(workflow_id, None,
...)``: a checkpoint of the workflow rather than of one step), and so may ``git_sha``.

An event whose payload the model refuses (stored by a permissive store, such as the
supervisor facade's, or by raw SQL) still gives its checkpoint, from what it holds: a
``git_sha`` that is not a non-empty string is NULL, ``context_snapshot`` is the
``context`` as given (``{}`` without one), a ``status`` that is not a non-empty string
is ``active``. A ``checkpoint_restored`` without a usable ``checkpoint_id`` changes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json

from ._events import (
    CHECKPOINT_CREATED,
    CHECKPOINT_RESTORED,
    RESTORED_STATUS,
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

# Version 2 lets step_id and git_sha be NULL. The version bump makes the kernel rebuild
# the projection (drop its table, run every migration, replay the log), so this runs on
# an empty table and can recreate it rather than rewrite it.
_NULLABLE_STEP_AND_SHA = """
DROP TABLE checkpoints;
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,          -- the checkpoint_created event's global position
    workflow_id TEXT NOT NULL,
    step_id TEXT,                    -- NULL: a checkpoint of the whole workflow
    git_sha TEXT,
    context_snapshot TEXT NOT NULL,  -- JSON, the context as given
    status TEXT NOT NULL,
    timestamp TEXT NOT NULL          -- the event's timestamp (aware UTC ISO-8601)
);
CREATE INDEX checkpoints_workflow_id ON checkpoints (workflow_id, id);
"""


def encode_context(context: object) -> str:
    """The stored form of a context: compact JSON, the same text for the same event on
    every replay (key order is the payload's own, which the log preserves)."""
    return encode_json(context)


# The kernel validated each payload on append in a strict store, but a permissive one
# (the supervisor facade's) stores payloads as given: handlers read each value and use
# it only if it has the model's type, so an odd payload still gives its checkpoint.


_INSERT = (
    "INSERT INTO checkpoints (id, workflow_id, step_id, git_sha, context_snapshot, status, "
    "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_RESTORE = "UPDATE checkpoints SET status = ? WHERE id = ?"

Statement = tuple[str, tuple[Any, ...]]


def on_checkpoint_created(db: ScopedConnection, event: RecordedEvent) -> None:
    db.execute(*_created(event))


def on_checkpoint_restored(db: ScopedConnection, event: RecordedEvent) -> None:
    statement = _restored(event)
    if statement is not None:
        db.execute(*statement)


def on_checkpoint_events(db: ScopedConnection, events: Sequence[RecordedEvent]) -> None:
    """Replay (rebuild, catch-up): the batch's statements in their order, each run of
    the same statement in one executemany (a restore may follow the creation it
    names in the same batch, so the order is kept)."""
    sql, rows = "", list[tuple[Any, ...]]()
    for event in events:
        statement = _created(event) if event.event_type == CHECKPOINT_CREATED else _restored(event)
        if statement is None:
            continue
        if statement[0] != sql and rows:
            db.executemany(sql, rows)
            rows = []
        sql = statement[0]
        rows.append(statement[1])
    if rows:
        db.executemany(sql, rows)


def _created(event: RecordedEvent) -> Statement:
    payload: Mapping[str, Any] = event.payload
    git_sha, status = payload.get("git_sha"), payload.get("status")
    return _INSERT, (
        event.id,
        event.workflow_id,
        event.step_id,
        git_sha if type(git_sha) is str and git_sha else None,
        encode_context(payload.get("context", {})),
        status if type(status) is str and status else "active",
        event.timestamp_text,
    )


def _restored(event: RecordedEvent) -> Statement | None:
    # A restore naming no known checkpoint changes nothing. It cannot be refused here:
    # the event is already in the log, and raising would leave the projection failing
    # on it forever. ``restore_checkpoint`` checks the id before appending.
    checkpoint_id = event.payload.get("checkpoint_id")
    if type(checkpoint_id) is int and checkpoint_id >= 1:
        return _RESTORE, (RESTORED_STATUS, checkpoint_id)
    return None


def build_projection() -> Projection:
    projection = Projection(
        PROJECTION_NAME,
        # 2: JSON columns written by evstore.encode_json, the kernel's own encoder (a tiny
        # float is 1e-7 there, 1e-07 before). 3: step_id and git_sha nullable (0002). Each
        # bump rebuilds the table, which 0002 relies on (it recreates an empty table).
        version=3,
        tables=(TABLE,),
        migrations=(
            Migration("0001_create_checkpoints", _SCHEMA),
            Migration("0002_step_id_and_git_sha_nullable", _NULLABLE_STEP_AND_SHA),
        ),
        description="checkpoints(id, workflow_id, step_id, git_sha, context_snapshot, status, timestamp)",
    )
    projection.on(CHECKPOINT_CREATED)(on_checkpoint_created)
    projection.on(CHECKPOINT_RESTORED)(on_checkpoint_restored)
    projection.on_batch(on_checkpoint_events)
    return projection
