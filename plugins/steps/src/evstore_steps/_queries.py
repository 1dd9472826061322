"""Reading the ``steps`` table: the ``Step`` model and the query functions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from evstore import EventStore, InvalidArgumentError, require_projection

from ._projection import PROJECTION_NAME
from ._status import StepStatus


class Step(BaseModel):
    """One row of the ``steps`` table: the original ``Step`` fields plus ``retry_count``."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str
    role: str | None
    """``None`` only while the step has no event that names a role (``step_started``
    always does)."""
    status: StepStatus
    gates: list[str]
    context: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    created_at: datetime
    """Aware UTC: the timestamp of the step's first event."""
    updated_at: datetime
    """Aware UTC: the timestamp of the step's latest event."""
    retry_count: int = 0


_SELECT = (
    "SELECT id, workflow_id, role, status, gates, context, output, error, created_at, "
    "updated_at, retry_count FROM steps"
)


def get_step(store: EventStore, step_id: str) -> Step | None:
    """The step ``step_id``, or ``None`` if no event has mentioned it."""
    require_projection(store, PROJECTION_NAME, package="evstore_steps")
    _require_text("step_id", step_id)
    rows = store.reader.fetchall(f"{_SELECT} WHERE id = ?", (step_id,))
    return _to_step(rows[0]) if rows else None


def list_steps(store: EventStore, workflow_id: str) -> list[Step]:
    """The steps of ``workflow_id`` in creation order (the position of each step's first
    event); empty for a workflow with no steps."""
    require_projection(store, PROJECTION_NAME, package="evstore_steps")
    _require_text("workflow_id", workflow_id)
    rows = store.reader.fetchall(
        f"{_SELECT} WHERE workflow_id = ? ORDER BY created_position", (workflow_id,)
    )
    return [_to_step(row) for row in rows]


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")



def _to_step(row: tuple[Any, ...]) -> Step:
    (step_id, workflow_id, role, status, gates, context, output, error, created_at, updated_at,
     retry_count) = row
    return Step(
        id=step_id,
        workflow_id=workflow_id,
        role=role,
        status=StepStatus(status),
        gates=json.loads(gates),
        context=json.loads(context),
        output=None if output is None else json.loads(output),
        error=error,
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
        retry_count=retry_count,
    )
