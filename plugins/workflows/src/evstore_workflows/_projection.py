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

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json, in_list

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
    """Replay (rebuild, catch-up, workers): the batch folded in memory, by the rules of
    the per-event statements, then each workflow's row written once.

    One event at a time, a supervisor run is five upserts on its row (started, three
    steps started, completed); folded, it is one INSERT when the run is in one batch.
    Keep ``_fold`` in step with the ``_ON_*`` statements: the contract's
    replay-equals-incremental checks (also in batches of three events) compare the two.
    """
    prepared = [(event.event_type, _ROWS[event.event_type](event)) for event in events]
    if not prepared:
        return
    rows = _read_rows(db, [row[0] for _, row in prepared])
    stored = list(rows)  # the workflows earlier batches wrote, which this one changes
    new: dict[str, list[Any]] = {}
    for kind, row in prepared:
        for text in (row[_CURRENT_STEP], row[_ERROR]):
            if text is not None and "\x00" in text:
                # PostgreSQL refuses NUL in text. Folded, a later event could
                # overwrite the value that makes the per-event statement fail: let
                # the per-event handlers decide.
                raise _Unusual(f"{text!r} holds a NUL character")
        current = rows.get(row[0])
        if current is None:
            rows[row[0]] = new[row[0]] = list(row)
        else:
            _fold(kind, current, row)
    if new:
        db.executemany(_INSERT_ROW, [tuple(row) for row in new.values()])
    if stored:
        db.executemany(_UPDATE_ROW, [(*rows[key][1:4], *rows[key][5:7], key) for key in stored])


class _Unusual(Exception):
    """The batch holds a value the fold cannot vouch for: the kernel applies the batch
    again through the per-event handlers (internal)."""


# Positions in the rows of ``_row`` (the columns of ``_INSERT``).
_CURRENT_STEP, _STATUS, _CONTEXT, _UPDATED, _ERROR = 1, 2, 3, 5, 6
_COLUMNS: Final = "id, current_step, status, context, created_at, updated_at, error, created_position"
_SELECT_ROWS: Final = f"SELECT {_COLUMNS} FROM workflows WHERE id IN "
_INSERT_ROW: Final = f"INSERT INTO workflows ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
# Every column an event may change; created_at and created_position never do.
_UPDATE_ROW: Final = (
    "UPDATE workflows SET current_step = ?, status = ?, context = ?, updated_at = ?, error = ? WHERE id = ?"
)
# Ids per IN (...) read: far below every backend's limit on parameters.
_READ_CHUNK: Final = 512


def _read_rows(db: ScopedConnection, ids: list[str]) -> dict[str, list[Any]]:
    """The stored rows of ``ids`` (those that have one), by id."""
    wanted = list(dict.fromkeys(ids))
    rows: dict[str, list[Any]] = {}
    for start in range(0, len(wanted), _READ_CHUNK):
        marks, chunk = in_list(wanted[start:start + _READ_CHUNK])
        for stored in db.fetchall(_SELECT_ROWS + marks, chunk):
            rows[stored[0]] = list(stored)
    return rows


def _fold(kind: str, current: list[Any], row: Row) -> None:
    """What the ``_ON_*`` statement of ``kind`` does to an existing row."""
    current[_UPDATED] = row[_UPDATED]
    if kind in (WORKFLOW_STARTED, STEP_STARTED) and row[_CURRENT_STEP] is not None:
        current[_CURRENT_STEP] = row[_CURRENT_STEP]
    if kind == WORKFLOW_STARTED:
        current[_STATUS], current[_CONTEXT], current[_ERROR] = row[_STATUS], row[_CONTEXT], None
    elif kind != STEP_STARTED:
        current[_STATUS], current[_ERROR] = row[_STATUS], row[_ERROR]


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
