"""Creating, finding and restoring checkpoints.

Reads go through ``store.reader`` with parameterised SQL; writes are events, so a
rebuild reproduces every checkpoint and every restore.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from evstore import EventStore, NewEvent, require_projection

from ._events import CHECKPOINT_CREATED, CHECKPOINT_RESTORED, CheckpointRestored
from ._projection import PROJECTION_NAME

_COLUMNS = "id, workflow_id, step_id, git_sha, context_snapshot, status, timestamp"


def create_checkpoint(
    store: EventStore,
    workflow_id: str,
    step_id: str | None,
    git_sha: str,
    context: Mapping[str, Any],
    status: str = "active",
) -> int:
    """Record a recovery point of ``workflow_id`` at ``step_id`` (``None``: of the whole
    workflow); returns the checkpoint's id, which is the position of its
    ``checkpoint_created`` event.

    The workflow needs no ``workflows`` row. Bad values (an empty git sha, a context
    that is not a dict) raise the store's ``PayloadValidationError`` and write nothing.
    """
    # A plain dict, so the store validates it against CheckpointCreated and reports a
    # mistake as its PayloadValidationError, like any other append.
    payload = {
        "git_sha": git_sha,
        "context": dict(context) if isinstance(context, Mapping) else context,
        "status": status,
    }
    return store.append(
        NewEvent(
            workflow_id=workflow_id,
            event_type=CHECKPOINT_CREATED,
            step_id=step_id,
            payload=payload,
        )
    )


def get_latest_checkpoint(store: EventStore, workflow_id: str) -> dict[str, Any] | None:
    """The workflow's newest checkpoint, or ``None`` if it has none.

    "Newest" is the highest position, not the latest timestamp: two checkpoints in the
    same second (or with the same explicit timestamp) are still ordered, and the later
    one wins. The original compared one-second timestamps and returned the oldest on a
    tie. Keys: ``id, workflow_id, step_id, git_sha, context, status, timestamp`` with
    ``context`` decoded.
    """
    require_projection(store, PROJECTION_NAME, package="evstore_checkpoints")
    _check_workflow_id(workflow_id)
    rows = store.reader.fetchall(
        f"SELECT {_COLUMNS} FROM checkpoints WHERE workflow_id = ? ORDER BY id DESC LIMIT 1",
        (workflow_id,),
    )
    return _as_dict(rows[0]) if rows else None


def list_checkpoints(store: EventStore, workflow_id: str) -> list[dict[str, Any]]:
    """Every checkpoint of the workflow, oldest first (by position); same keys as
    :func:`get_latest_checkpoint`."""
    require_projection(store, PROJECTION_NAME, package="evstore_checkpoints")
    _check_workflow_id(workflow_id)
    rows = store.reader.fetchall(
        f"SELECT {_COLUMNS} FROM checkpoints WHERE workflow_id = ? ORDER BY id", (workflow_id,)
    )
    return [_as_dict(row) for row in rows]


def restore_checkpoint(store: EventStore, checkpoint_id: int) -> int:
    """Record that the workflow went back to checkpoint ``checkpoint_id``; its status
    becomes ``'restored'``. Returns the position of the ``checkpoint_restored`` event,
    which is appended to the checkpoint's workflow with the checkpoint's step.

    :raises TypeError: ``checkpoint_id`` is not an int.
    :raises ValueError: no checkpoint has that id.
    """
    require_projection(store, PROJECTION_NAME, package="evstore_checkpoints")
    if isinstance(checkpoint_id, bool) or not isinstance(checkpoint_id, int):
        raise TypeError(f"checkpoint_id must be an int, got {type(checkpoint_id).__name__} {checkpoint_id!r}")
    # Look in the log, the source of truth, rather than the table: the answer is the
    # same whether or not the checkpoints projection is up to date.
    found = store.read_all(after=checkpoint_id - 1, limit=1) if checkpoint_id >= 1 else []
    created = found[0] if found and found[0].event_type == CHECKPOINT_CREATED else None
    if created is None or created.id != checkpoint_id:
        raise ValueError(
            f"no checkpoint has id {checkpoint_id}: a checkpoint's id is the position of its "
            f"{CHECKPOINT_CREATED} event (as returned by create_checkpoint)"
        )
    return store.append(
        NewEvent(
            workflow_id=created.workflow_id,
            event_type=CHECKPOINT_RESTORED,
            step_id=created.step_id,
            payload=CheckpointRestored(checkpoint_id=checkpoint_id),
        )
    )


def _check_workflow_id(workflow_id: object) -> None:
    if not isinstance(workflow_id, str):
        raise TypeError(f"workflow_id must be a str, got {type(workflow_id).__name__} {workflow_id!r}")


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    checkpoint_id, workflow_id, step_id, git_sha, context_snapshot, status, timestamp = row
    return {
        "id": checkpoint_id,
        "workflow_id": workflow_id,
        "step_id": step_id,
        "git_sha": git_sha,
        "context": json.loads(context_snapshot),
        "status": status,
        "timestamp": timestamp,
    }
