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

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json, in_list

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
    for event_type in _ROWS:
        projection.on(event_type)(_on_step_event)
    projection.on_batch(_on_step_events)
    return projection


Row = tuple[Any, ...]


def _on_step_event(db: ScopedConnection, event: RecordedEvent) -> None:
    row = _ROWS[event.event_type](event)
    if row is not None:
        db.execute(_STATEMENTS[event.event_type], row)


def _on_step_events(db: ScopedConnection, events: Sequence[RecordedEvent]) -> None:
    """Replay (rebuild, catch-up, workers): the batch folded in memory, by the rules of
    the per-event statements, then each step's row written once.

    One event at a time, every event is an upsert that finds the step's row and
    rewrites it; a step is usually started and completed in one batch, so folding
    halves the statements, and each is a plain INSERT or UPDATE (the one upsert with
    a CASE per column that this replaced cost more than the per-event statements).
    Keep ``_fold`` in step with the ``_ON_*`` statements: the contract's
    replay-equals-incremental checks (also in batches of three events) compare them.
    """
    prepared = []
    for event in events:
        row = _ROWS[event.event_type](event)
        if row is not None:
            prepared.append((event.event_type, row))
    if not prepared:
        return
    rows = _read_rows(db, [row[0] for _, row in prepared])
    stored = list(rows)  # the steps earlier batches wrote, which this one changes
    new: dict[str, list[Any]] = {}
    for kind, row in prepared:
        error = row[_ERROR]
        if error is not None and "\x00" in error:
            # PostgreSQL refuses NUL in text. Folded, a later event could overwrite
            # the value that makes the per-event statement fail; let those decide.
            raise _Unusual(f"error {error!r} holds a NUL character")
        current = rows.get(row[0])
        if current is None:
            rows[row[0]] = new[row[0]] = list(row)
        else:
            _fold(kind, current, row)
    if new:
        db.executemany(_INSERT_ROW, [tuple(row) for row in new.values()])
    if stored:
        db.executemany(_UPDATE_ROW, [(*rows[key][1:8], *rows[key][9:11], key) for key in stored])


class _Unusual(Exception):
    """The batch holds a value the fold cannot vouch for: the kernel applies the batch
    again through the per-event handlers (internal)."""


# Positions in the rows of ``_row`` (the columns of ``_INSERT``).
_WORKFLOW, _ROLE, _STATUS, _GATES, _CONTEXT, _OUTPUT, _ERROR, _UPDATED, _RETRIES = 1, 2, 3, 4, 5, 6, 7, 9, 10
_COLUMNS: Final = (
    "id, workflow_id, role, status, gates, context, output, error, created_at, updated_at, "
    "retry_count, created_position"
)
_SELECT_ROWS: Final = f"SELECT {_COLUMNS} FROM steps WHERE id IN "
_INSERT_ROW: Final = f"INSERT INTO steps ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Every column an event may change; created_at and created_position never do.
_UPDATE_ROW: Final = (
    "UPDATE steps SET workflow_id = ?, role = ?, status = ?, gates = ?, context = ?, output = ?, "
    "error = ?, updated_at = ?, retry_count = ? WHERE id = ?"
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
    current[_STATUS], current[_UPDATED] = row[_STATUS], row[_UPDATED]
    if kind == STEP_STARTED:
        current[_WORKFLOW], current[_GATES], current[_CONTEXT] = row[_WORKFLOW], row[_GATES], row[_CONTEXT]
        if row[_ROLE] is not None:
            current[_ROLE] = row[_ROLE]
        current[_OUTPUT] = current[_ERROR] = None
        return
    if current[_ROLE] is None:
        current[_ROLE] = row[_ROLE]
    if kind == STEP_COMPLETED:
        current[_OUTPUT] = row[_OUTPUT]
    elif kind == STEP_FAILED:
        current[_ERROR] = row[_ERROR]
    elif kind == STEP_RETRIED:
        current[_RETRIES] += 1
    elif kind == STEP_STATUS_CHANGED:
        current[_OUTPUT], current[_ERROR] = row[_OUTPUT], row[_ERROR]


def _started_row(event: RecordedEvent) -> Row | None:
    payload = event.payload
    return _row(
        event, "in_progress",
        gates=_json_text_list(payload, "gates"), context=_json_object(payload, "context"),
    )


def _applying_row(event: RecordedEvent) -> Row | None:
    return _row(event, "applying")


def _completed_row(event: RecordedEvent) -> Row | None:
    output = event.payload.get("output")
    return _row(event, "completed", output=encode_json(output) if isinstance(output, dict) else None)


def _failed_row(event: RecordedEvent) -> Row | None:
    error = event.payload.get("error")
    return _row(event, "failed", error=error if isinstance(error, str) else None)


def _retried_row(event: RecordedEvent) -> Row | None:
    return _row(event, "in_progress", retry_count=1)


def _status_changed_row(event: RecordedEvent) -> Row | None:
    payload = event.payload
    status = payload.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        return None
    output, error = payload.get("output"), payload.get("error")
    return _row(
        event, status,
        output=encode_json(output) if isinstance(output, dict) else None,
        error=error if isinstance(error, str) else None,
    )


def _row(
    event: RecordedEvent,
    status: str,
    *,
    gates: str = "[]",
    context: str = "{}",
    output: str | None = None,
    error: str | None = None,
    retry_count: int = 0,
) -> Row | None:
    """The parameters of ``_INSERT``: the row this event would create if it were the
    step's first (``None``: the event changes nothing)."""
    if event.step_id is None:
        # Only possible for an event appended while this plugin was not loaded (the
        # kernel requires step_id otherwise): there is no row it could belong to.
        return None
    moment = event.timestamp_text
    return (event.step_id, event.workflow_id, event.role, status, gates, context, output, error,
            moment, moment, retry_count, event.id)


# event type -> the row it writes, and the per-event statement writing it.
_ROWS: Final[dict[str, Callable[[RecordedEvent], Row | None]]] = {
    STEP_STARTED: _started_row,
    STEP_APPLYING: _applying_row,
    STEP_COMPLETED: _completed_row,
    STEP_FAILED: _failed_row,
    STEP_RETRIED: _retried_row,
    STEP_STATUS_CHANGED: _status_changed_row,
}
_STATEMENTS: Final = {
    STEP_STARTED: _ON_STARTED,
    STEP_APPLYING: _ON_APPLYING,
    STEP_COMPLETED: _ON_COMPLETED,
    STEP_FAILED: _ON_FAILED,
    STEP_RETRIED: _ON_RETRIED,
    STEP_STATUS_CHANGED: _ON_STATUS_CHANGED,
}


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
