"""The ``workflows`` table and the handlers that keep it up to date.

Table and column names are the original supervisor's, because its users run raw SQL
against them. Two columns are added: ``error`` (the reason given by ``workflow_failed``)
and ``created_position`` (the global position of the event that created the row, so
listings follow creation order).

Every value comes from the event being applied — times from its timestamp, positions
from its id — never from the clock, so ``store.rebuild()`` reproduces the table exactly.

No event is dropped for arriving "too early": every handler is an upsert, so a
``workflow_completed``, ``workflow_failed`` or ``step_started`` for a workflow that has
no ``workflow_started`` yet still creates its row:

- ``workflow_started``: status ``active``; ``current_step`` = ``payload.initial_step``
  (kept as it was when the payload has none, so a late start does not forget the step a
  ``step_started`` already recorded); ``context`` replaced; ``error`` cleared.
- ``workflow_completed``: status ``completed``, ``error`` cleared.
- ``workflow_failed``: status ``failed``, ``error`` = ``payload.error``.
- ``step_started``: ``current_step`` = the event's ``step_id``; a new row starts
  ``active`` (a step is running), an existing row keeps its status.

A new row takes ``created_at`` and ``created_position`` from the event that creates it,
and keeps them; every handled event sets ``updated_at`` to its own timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json

from ._events import STEP_STARTED, WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_STARTED

PROJECTION_NAME: Final = "workflows"

_CREATE_WORKFLOWS = """
CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    current_step TEXT,
    status TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    error TEXT,
    created_position INTEGER NOT NULL
);
CREATE INDEX workflows_by_status ON workflows (status, created_position);
CREATE INDEX workflows_by_creation ON workflows (created_position);
"""

MIGRATIONS: Final = (Migration("0001_create_workflows", _CREATE_WORKFLOWS),)

_INSERT = (
    "INSERT INTO workflows (id, current_step, status, context, created_at, updated_at, error, "
    "created_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
)
_ON_STARTED = _INSERT + (
    "current_step = COALESCE(excluded.current_step, workflows.current_step), "
    "status = excluded.status, context = excluded.context, error = NULL, "
    "updated_at = excluded.updated_at"
)
_ON_FINISHED = _INSERT + (
    "status = excluded.status, error = excluded.error, updated_at = excluded.updated_at"
)
_ON_STEP_STARTED = _INSERT + (
    "current_step = COALESCE(excluded.current_step, workflows.current_step), "
    "updated_at = excluded.updated_at"
)
# The batch handler's one statement: each ``_ON_*`` above, chosen per row by the event
# type given as a parameter (the CASEs below), so a whole batch is one executemany that
# runs the rows in order, exactly as the per-event statements would. Keep the two in
# step: the contract's rebuild-equals-incremental check compares them.
_ON_ANY = _INSERT + (
    "current_step = CASE WHEN ? IN ('workflow_started', 'step_started') "
    "THEN COALESCE(excluded.current_step, workflows.current_step) ELSE workflows.current_step END, "
    "status = CASE WHEN ? = 'step_started' THEN workflows.status ELSE excluded.status END, "
    "context = CASE WHEN ? = 'workflow_started' THEN excluded.context ELSE workflows.context END, "
    "error = CASE ? WHEN 'workflow_started' THEN NULL WHEN 'step_started' THEN workflows.error "
    "ELSE excluded.error END, "
    "updated_at = excluded.updated_at"
)
# How many times ``_ON_ANY`` names the event type, after the row's own parameters.
_ON_ANY_TYPE_MARKS: Final = 4


def build_projection() -> Projection:
    """A fresh ``workflows`` projection (one per store: a Projection holds its handlers)."""
    projection = Projection(
        PROJECTION_NAME,
        # 2: JSON columns written by evstore.encode_json, the kernel's own encoder (a tiny
        # float is 1e-7 there, 1e-07 before): the bump rebuilds old rows to match.
        version=2,
        tables=("workflows",),
        migrations=MIGRATIONS,
        description="one row per workflow: status, current step, context",
    )
    for event_type in _ROWS:
        projection.on(event_type)(_on_workflow_event)
    projection.on_batch(_on_workflow_events)
    return projection


Row = tuple[Any, ...]


def _on_workflow_event(db: ScopedConnection, event: RecordedEvent) -> None:
    db.execute(_STATEMENTS[event.event_type], _ROWS[event.event_type](event))


def _on_workflow_events(db: ScopedConnection, events: Sequence[RecordedEvent]) -> None:
    """Replay (rebuild, catch-up): the batch as one executemany of ``_ON_ANY``."""
    db.executemany(
        _ON_ANY,
        [(*_ROWS[event.event_type](event), *(event.event_type,) * _ON_ANY_TYPE_MARKS) for event in events],
    )


def _started_row(event: RecordedEvent) -> Row:
    payload = event.payload
    return _row(event, "active", current_step=_text(payload, "initial_step"),
                context=_json_object(payload, "context"))


def _completed_row(event: RecordedEvent) -> Row:
    return _row(event, "completed")


def _failed_row(event: RecordedEvent) -> Row:
    return _row(event, "failed", error=_text(event.payload, "error"))


def _step_started_row(event: RecordedEvent) -> Row:
    return _row(event, "active", current_step=event.step_id)


def _row(
    event: RecordedEvent,
    status: str,
    *,
    current_step: str | None = None,
    context: str = "{}",
    error: str | None = None,
) -> Row:
    """The parameters of ``_INSERT``: the row this event would create if it were first."""
    moment = event.timestamp_text
    return (event.workflow_id, current_step, status, context, moment, moment, error, event.id)


# event type -> the row it writes, and the per-event statement writing it.
_ROWS: Final[dict[str, Callable[[RecordedEvent], Row]]] = {
    WORKFLOW_STARTED: _started_row,
    WORKFLOW_COMPLETED: _completed_row,
    WORKFLOW_FAILED: _failed_row,
    STEP_STARTED: _step_started_row,
}
_STATEMENTS: Final = {
    WORKFLOW_STARTED: _ON_STARTED,
    WORKFLOW_COMPLETED: _ON_FINISHED,
    WORKFLOW_FAILED: _ON_FINISHED,
    STEP_STARTED: _ON_STEP_STARTED,
}


# Payloads were validated on append, but an event appended while this plugin was not
# loaded (a permissive store) never was. Such an event is still applied, reading only
# the values that have the right type, rather than leaving the projection failing on
# history that cannot be corrected (the log is append-only).


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) else None


def _json_object(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, dict) or not value:
        return "{}"
    return encode_json(value)
