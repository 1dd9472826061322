"""The ``activity_board`` projection: what each role is doing and how it went.

Two tables:

- ``activity_steps(step_id, workflow_id, role, state, attempts, updated_at)``: one row
  per step seen, so the board can count the steps a role has open and attribute a
  ``step_completed`` that carries no role to the role that started the step.
  ``state`` is ``running``, ``applying``, ``completed`` or ``failed``.
- ``activity_roles(role, steps_started, steps_completed, steps_failed, retries,
  runs_measured, runs_succeeded, seconds_measured, last_active_at, last_position)``:
  counters per role. ``runs_*`` and ``seconds_measured`` come from ``metric_recorded``;
  ``last_active_at`` / ``last_position`` are the timestamp and position of the role's
  latest event in log order.

The event types are declared by evstore-steps (``step_*``) and evstore-metrics
(``metric_recorded``); this plugin only handles them. In a permissive store without
those plugins payloads arrive unvalidated, so handlers read them defensively. An event
whose role cannot be known (no role on it, and its step was never started) updates the
step but no role.
"""

from __future__ import annotations

from typing import Any, Final

from evstore import Migration, Projection, RecordedEvent, ScopedConnection

PROJECTION_NAME: Final = "activity_board"

STEP_STARTED: Final = "step_started"
STEP_APPLYING: Final = "step_applying"
STEP_COMPLETED: Final = "step_completed"
STEP_FAILED: Final = "step_failed"
STEP_RETRIED: Final = "step_retried"
METRIC_RECORDED: Final = "metric_recorded"

_CREATE = """
CREATE TABLE activity_steps (
    step_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    role TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);
CREATE INDEX activity_steps_by_role ON activity_steps (role, state);
CREATE TABLE activity_roles (
    role TEXT PRIMARY KEY,
    steps_started INTEGER NOT NULL DEFAULT 0,
    steps_completed INTEGER NOT NULL DEFAULT 0,
    steps_failed INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    runs_measured INTEGER NOT NULL DEFAULT 0,
    runs_succeeded INTEGER NOT NULL DEFAULT 0,
    seconds_measured REAL NOT NULL DEFAULT 0,
    last_active_at TEXT NOT NULL,
    last_position INTEGER NOT NULL
);
"""

MIGRATIONS: Final = (Migration("0001_create_activity_tables", _CREATE),)

# Counters a step event adds to its role's row.
_COUNTED: Final[dict[str, str | None]] = {
    STEP_STARTED: "steps_started",
    STEP_APPLYING: None,
    STEP_COMPLETED: "steps_completed",
    STEP_FAILED: "steps_failed",
    STEP_RETRIED: "retries",
}
_STATE: Final = {
    STEP_STARTED: "running",
    STEP_APPLYING: "applying",
    STEP_COMPLETED: "completed",
    STEP_FAILED: "failed",
    STEP_RETRIED: "running",
}


def build_projection() -> Projection:
    """A fresh projection object (one per store: a Projection holds its handlers)."""
    projection = Projection(
        PROJECTION_NAME,
        version=1,
        tables=("activity_steps", "activity_roles"),
        migrations=MIGRATIONS,
        description="per-role activity: open steps, outcomes, retries, measured runs",
    )
    projection.on(*_STATE)(_on_step_event)
    projection.on(METRIC_RECORDED)(_on_metric_recorded)
    return projection


def _on_step_event(db: ScopedConnection, event: RecordedEvent) -> None:
    if event.step_id is None:
        return  # only possible in a permissive store: there is no step to update
    kind = event.event_type
    known_role = db.fetchvalue("SELECT role FROM activity_steps WHERE step_id = ?", (event.step_id,))
    # step_started names who does the step now; any other event keeps the starter's role.
    role = (event.role or known_role) if kind == STEP_STARTED else (known_role or event.role)
    db.execute(
        "INSERT INTO activity_steps (step_id, workflow_id, role, state, attempts, updated_at) "
        "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (step_id) DO UPDATE SET role = excluded.role, "
        "state = excluded.state, updated_at = excluded.updated_at, "
        "attempts = activity_steps.attempts + ?",
        (event.step_id, event.workflow_id, role, _STATE[kind], event.timestamp_text, int(kind == STEP_RETRIED)),
    )
    if role is not None:
        _count(db, role, event, _COUNTED[kind])


def _on_metric_recorded(db: ScopedConnection, event: RecordedEvent) -> None:
    if event.role is None:
        return
    payload = event.payload
    success = payload.get("success") is True
    seconds = _number(payload.get("duration_seconds"))
    _count(db, event.role, event, "runs_measured", succeeded=int(success), seconds=seconds)


def _count(
    db: ScopedConnection, role: str, event: RecordedEvent, counter: str | None, *, succeeded: int = 0,
    seconds: float = 0.0,
) -> None:
    """Mark the role active at this event and add one to ``counter`` (a column name
    from this module, never from input)."""
    db.execute(
        "INSERT INTO activity_roles (role, last_active_at, last_position) VALUES (?, ?, ?) "
        "ON CONFLICT (role) DO UPDATE SET last_active_at = excluded.last_active_at, "
        "last_position = excluded.last_position",
        (role, event.timestamp_text, event.id),
    )
    if counter is None:
        return
    db.execute(
        f"UPDATE activity_roles SET {counter} = {counter} + 1, runs_succeeded = runs_succeeded + ?, "
        "seconds_measured = seconds_measured + ? WHERE role = ?",
        (succeeded, seconds, role),
    )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return 0.0
    return float(value)
