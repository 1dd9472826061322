"""Reading the ``workflows`` table: the ``Workflow`` model and the query functions."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from evstore import EventStore, InvalidArgumentError, require_projection

from ._projection import PROJECTION_NAME


class WorkflowStatus(StrEnum):
    """The values of ``workflows.status``. A ``StrEnum``, so it compares equal to the
    plain strings raw SQL returns."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class Workflow(BaseModel):
    """One row of the ``workflows`` table."""

    model_config = ConfigDict(frozen=True)

    id: str
    current_step: str | None
    status: WorkflowStatus
    context: dict[str, Any]
    error: str | None
    created_at: datetime
    """Aware UTC: the timestamp of the first event about this workflow."""
    updated_at: datetime
    """Aware UTC: the timestamp of the latest event about this workflow."""


_SELECT = "SELECT id, current_step, status, context, error, created_at, updated_at FROM workflows"


def get_workflow(store: EventStore, workflow_id: str) -> Workflow | None:
    """The workflow ``workflow_id``, or ``None`` if no event has mentioned it."""
    require_projection(store, PROJECTION_NAME, package="evstore_workflows")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise InvalidArgumentError(f"workflow_id must be a non-empty string, got {workflow_id!r}")
    rows = store.reader.fetchall(f"{_SELECT} WHERE id = ?", (workflow_id,))
    return _to_workflow(rows[0]) if rows else None


def list_workflows(store: EventStore, status: WorkflowStatus | str | None = None) -> list[Workflow]:
    """Every workflow in creation order (the position of its first event), optionally
    only those with ``status``."""
    require_projection(store, PROJECTION_NAME, package="evstore_workflows")
    if status is None:
        rows = store.reader.fetchall(f"{_SELECT} ORDER BY created_position")
    else:
        rows = store.reader.fetchall(
            f"{_SELECT} WHERE status = ? ORDER BY created_position", (_status(status).value,)
        )
    return [_to_workflow(row) for row in rows]


def _status(status: str) -> WorkflowStatus:
    try:
        return WorkflowStatus(status)
    except ValueError:
        raise InvalidArgumentError(
            f"status must be one of {[s.value for s in WorkflowStatus]} (or None for all), "
            f"got {status!r}"
        ) from None



def _to_workflow(row: tuple[Any, ...]) -> Workflow:
    workflow_id, current_step, status, context, error, created_at, updated_at = row
    return Workflow(
        id=workflow_id,
        current_step=current_step,
        status=WorkflowStatus(status),
        context=json.loads(context),
        error=error,
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
    )
