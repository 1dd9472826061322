"""The ``steps`` table and the handlers that keep it up to date.

Table and column names are the original supervisor's, because its users run raw SQL
against them. Two columns are added: ``retry_count`` (how many ``step_retried`` events
the step has had) and ``created_position`` (the global position of the event that
created the row, so a workflow's steps list in creation order, not in id text order).

Every value comes from the event being applied — times from its timestamp, positions
from its id — never from the clock, so ``store.rebuild()`` reproduces the table exactly.

Step ids are global, as in the original (``steps.id`` is the primary key). Every
handler is an upsert: a step whose first event is not ``step_started`` (or whose
workflow never had a ``workflow_started``) still gets its row, with the defaults
``gates = []``, ``context = {}`` and the role from the event if it has one.

- ``step_started``: status ``in_progress``; ``workflow_id``, ``role``, ``gates`` and
  ``context`` from the event; ``output`` and ``error`` cleared (a restart is a new
  attempt); ``retry_count`` kept.
- ``step_applying``: status ``applying`` (the original wrote a status ``get_step`` could
  not read back; here it is a member of ``StepStatus``).
- ``step_completed``: status ``completed``, ``output`` = ``payload.output``.
- ``step_failed``: status ``failed``, ``error`` = ``payload.error``.
- ``step_retried``: ``retry_count`` + 1 and status back to ``in_progress``; the last
  ``error`` is kept so the row still says why the step was retried.
- ``step_status_changed``: ``status``, ``output`` and ``error`` exactly as the payload
  gives them (``None`` clears), the original ``update_step`` as an event. A payload
  whose status is not a ``StepStatus`` (only possible for an event stored while this
  plugin was not loaded) changes nothing.

Events other than ``step_started`` fill in a missing role but never change one.
A new row takes ``created_at`` and ``created_position`` from the event that creates
it, and keeps them; every handled event sets ``updated_at`` to its own timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json

from ._events import (
    STEP_APPLYING,
    STEP_COMPLETED,
    STEP_FAILED,
    STEP_RETRIED,
    STEP_STARTED,
    STEP_STATUS_CHANGED,
)
from ._status import StepStatus

PROJECTION_NAME: Final = "steps"

_CREATE_STEPS = """
CREATE TABLE steps (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    role TEXT,
    status TEXT NOT NULL,
    gates TEXT NOT NULL DEFAULT '[]',
    context TEXT NOT NULL DEFAULT '{}',
    output TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    retry_count INTEGER NOT NULL DEFAULT 0,
    created_position INTEGER NOT NULL
);
CREATE INDEX steps_by_workflow ON steps (workflow_id, created_position);
"""

MIGRATIONS: Final = (Migration("0001_create_steps", _CREATE_STEPS),)

_INSERT = (
    "INSERT INTO steps (id, workflow_id, role, status, gates, context, output, error, "
    "created_at, updated_at, retry_count, created_position) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
)
# What every event after the first does to an existing row, besides its own column.
_TOUCH = (
    "role = COALESCE(steps.role, excluded.role), status = excluded.status, "
    "updated_at = excluded.updated_at"
)

_ON_STARTED = _INSERT + (
    "workflow_id = excluded.workflow_id, role = COALESCE(excluded.role, steps.role), "
    "status = excluded.status, gates = excluded.gates, context = excluded.context, "
    "output = NULL, error = NULL, updated_at = excluded.updated_at"
)
_ON_APPLYING = _INSERT + _TOUCH
_ON_COMPLETED = _INSERT + _TOUCH + ", output = excluded.output"
_ON_FAILED = _INSERT + _TOUCH + ", error = excluded.error"
_ON_RETRIED = _INSERT + _TOUCH + ", retry_count = steps.retry_count + 1"
_ON_STATUS_CHANGED = _INSERT + _TOUCH + ", output = excluded.output, error = excluded.error"
_STATUSES: Final = frozenset(status.value for status in StepStatus)


def build_projection() -> Projection:
    """A fresh ``steps`` projection (one per store: a Projection holds its handlers)."""
    projection = Projection(
        PROJECTION_NAME,
        # 2: JSON columns written by evstore.encode_json, the kernel's own encoder (a tiny
        # float is 1e-7 there, 1e-07 before): the bump rebuilds old rows to match.
        version=2,
        tables=("steps",),
        migrations=MIGRATIONS,
        description="one row per step: role, status, gates, context, output, error, retries",
    )
    projection.on(STEP_STARTED)(_on_step_started)
    projection.on(STEP_APPLYING)(_on_step_applying)
    projection.on(STEP_COMPLETED)(_on_step_completed)
    projection.on(STEP_FAILED)(_on_step_failed)
    projection.on(STEP_RETRIED)(_on_step_retried)
    projection.on(STEP_STATUS_CHANGED)(_on_step_status_changed)
    return projection


def _on_step_started(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = event.payload
    _upsert(
        db, _ON_STARTED, event, "in_progress",
        gates=_json_text_list(payload, "gates"), context=_json_object(payload, "context"),
    )


def _on_step_applying(db: ScopedConnection, event: RecordedEvent) -> None:
    _upsert(db, _ON_APPLYING, event, "applying")


def _on_step_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    output = event.payload.get("output")
    _upsert(
        db, _ON_COMPLETED, event, "completed",
        output=encode_json(output) if isinstance(output, dict) else None,
    )


def _on_step_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    error = event.payload.get("error")
    _upsert(db, _ON_FAILED, event, "failed", error=error if isinstance(error, str) else None)


def _on_step_retried(db: ScopedConnection, event: RecordedEvent) -> None:
    _upsert(db, _ON_RETRIED, event, "in_progress", retry_count=1)


def _on_step_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = event.payload
    status = payload.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        return
    output, error = payload.get("output"), payload.get("error")
    _upsert(
        db, _ON_STATUS_CHANGED, event, status,
        output=encode_json(output) if isinstance(output, dict) else None,
        error=error if isinstance(error, str) else None,
    )


def _upsert(
    db: ScopedConnection,
    sql: str,
    event: RecordedEvent,
    status: str,
    *,
    gates: str = "[]",
    context: str = "{}",
    output: str | None = None,
    error: str | None = None,
    retry_count: int = 0,
) -> None:
    """Run one of the ``_ON_*`` statements with the row this event would create if it
    were the step's first."""
    if event.step_id is None:
        # Only possible for an event appended while this plugin was not loaded (the
        # kernel requires step_id otherwise): there is no row it could belong to.
        return
    moment = event.timestamp_text
    db.execute(
        sql,
        (event.step_id, event.workflow_id, event.role, status, gates, context, output, error,
         moment, moment, retry_count, event.id),
    )


# Payloads were validated on append, but an event appended while this plugin was not
# loaded (a permissive store) never was. Such an event is still applied, reading only
# the values that have the right type, rather than leaving the projection failing on
# history that cannot be corrected (the log is append-only).


def _json_object(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return encode_json(value) if isinstance(value, dict) and value else "{}"


def _json_text_list(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, list) or not value:
        return "[]"
    return encode_json([item for item in value if isinstance(item, str)])
