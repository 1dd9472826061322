"""The ``features`` projection: the features, phases and components tables.

Rows are derived from events only: times from the event's timestamp, creation order
from its position. The projection never decides that a phase or feature is complete;
the cascade reactor (``_cascade``) appends PHASE_* / FEATURE_* events for that, and
this projection applies them like any other event. So a rebuild, which never runs
reactors, reproduces the same tables.

What each event does (``X → s`` sets status ``s``):

- feature_created: a new feature → planning. For a known id it corrects title and
  description only.
- phase_created: a new phase → pending; a completed or failed feature reopens
  (→ in_progress, completed_at cleared), since it now has unfinished work. For a known
  id it corrects title, sequence and interfaces; its feature never changes.
- component_created: a new component → pending; a completed or failed phase reopens
  (→ in_progress) and so does its feature. For a known id it corrects title,
  description, files, depends_on and assigned_role; its phase, status and place in
  the creation order never change.
- component_started → implementing; the component's phase becomes in_progress unless
  it already is, and its feature becomes in_progress when planning, completed or failed
  (a feature in review stays in review).
- component_completed → completed with output; component_failed → failed with error.
- component_status_changed: status, output and error as given. A non-terminal status
  reopens the phase and feature like a new component (pending) or like
  component_started (implementing, testing, review).
- component_dependencies_set: replaces depends_on.
- phase_status_changed: the status as given; a non-terminal status reopens a completed
  or failed feature.
- phase_completed / phase_failed → completed / failed.
- feature_status_changed: the status as given. feature_completed → completed;
  feature_failed → failed. ``completed_at`` is the timestamp of the event that made
  the feature completed, and NULL whenever it is not completed.

An event naming an unknown id changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from evstore import Migration, Projection, RecordedEvent, ScopedConnection

from . import _events as ev

PROJECTION_NAME = "features"
TABLES = ("features", "phases", "components")

_SCHEMA = """
CREATE TABLE features (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    created_position INTEGER NOT NULL
);
CREATE TABLE phases (
    id TEXT PRIMARY KEY,
    feature_id TEXT NOT NULL,
    title TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    interfaces TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    created_position INTEGER NOT NULL
);
CREATE INDEX features_phases_by_feature ON phases (feature_id, sequence, created_position);
CREATE TABLE components (
    id TEXT PRIMARY KEY,
    phase_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    files TEXT NOT NULL DEFAULT '[]',
    depends_on TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    assigned_role TEXT,
    output TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    feature_id TEXT NOT NULL,
    created_position INTEGER NOT NULL
);
CREATE INDEX features_components_by_phase ON components (phase_id, created_position);
CREATE INDEX features_components_by_feature ON components (feature_id, created_position);
CREATE INDEX features_components_by_status ON components (status, created_position);
"""

_ACTIVE_COMPONENT = ("implementing", "testing", "review")


def compact_json(value: Any) -> str:
    """The JSON text stored in the JSON columns: compact, key order as given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def build_projection() -> Projection:
    projection = Projection(
        PROJECTION_NAME,
        version=1,
        tables=TABLES,
        migrations=[Migration("0001_features_phases_components", _SCHEMA)],
        description="features, phases and components (the supervisor's plan)",
    )
    for event_type, handler in _HANDLERS.items():
        projection.on(event_type)(handler)
    return projection


# --- reopening: work arrived at a level that had ended ------------------------------------


# Literal SQL chosen by a flag, never built from input.
_ENDED = "status IN ('completed', 'failed')"
_PHASE_NOT_RUNNING = "status IN ('completed', 'failed', 'pending')"
_FEATURE_NOT_RUNNING = "status IN ('completed', 'failed', 'planning')"


def _reopen_phase(db: ScopedConnection, phase_id: str, *, activate: bool) -> None:
    """Completed or failed → in_progress; with ``activate`` also pending → in_progress."""
    condition = _PHASE_NOT_RUNNING if activate else _ENDED
    db.execute(f"UPDATE phases SET status = 'in_progress' WHERE id = ? AND {condition}", (phase_id,))


def _reopen_feature(db: ScopedConnection, feature_id: str, *, activate: bool) -> None:
    """Completed or failed → in_progress; with ``activate`` also planning → in_progress.
    A feature in review stays there: a person is looking at it."""
    condition = _FEATURE_NOT_RUNNING if activate else _ENDED
    db.execute(
        f"UPDATE features SET status = 'in_progress', completed_at = NULL WHERE id = ? AND {condition}",
        (feature_id,),
    )


def _reopen_for_component(db: ScopedConnection, component_id: str, *, activate: bool) -> None:
    row = db.fetchone("SELECT phase_id, feature_id FROM components WHERE id = ?", (component_id,))
    if row is None:
        return
    _reopen_phase(db, row[0], activate=activate)
    _reopen_feature(db, row[1], activate=activate)


# --- features -------------------------------------------------------------------------


def _feature_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.FeatureCreated.model_validate(event.payload)
    db.execute(
        "INSERT INTO features (id, title, description, status, created_at, completed_at, "
        "created_position) VALUES (?, ?, ?, 'planning', ?, NULL, ?) "
        "ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description",
        (payload.id or event.workflow_id, payload.title, payload.description,
         event.timestamp_text, event.id),
    )


def _feature_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.FeatureStatusChanged.model_validate(event.payload)
    _set_feature_status(db, event, payload.feature_id, payload.status.value)


def _feature_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.FeatureTargeted.model_validate(event.payload)
    _set_feature_status(db, event, payload.feature_id, "completed")


def _feature_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.FeatureTargeted.model_validate(event.payload)
    _set_feature_status(db, event, payload.feature_id, "failed")


def _set_feature_status(
    db: ScopedConnection, event: RecordedEvent, feature_id: str | None, status: str
) -> None:
    completed_at = event.timestamp_text if status == "completed" else None
    db.execute(
        "UPDATE features SET status = ?, completed_at = ? WHERE id = ?",
        (status, completed_at, feature_id or event.workflow_id),
    )


# --- phases ---------------------------------------------------------------------------


def _phase_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.PhaseCreated.model_validate(event.payload)
    interfaces = compact_json([i.model_dump(mode="json") for i in payload.interfaces])
    if db.fetchvalue("SELECT 1 FROM phases WHERE id = ?", (payload.id,)):
        db.execute(
            "UPDATE phases SET title = ?, sequence = ?, interfaces = ? WHERE id = ?",
            (payload.title, payload.sequence, interfaces, payload.id),
        )
        return
    feature_id = payload.feature_id or event.workflow_id
    db.execute(
        "INSERT INTO phases (id, feature_id, title, sequence, status, interfaces, created_at, "
        "created_position) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
        (payload.id, feature_id, payload.title, payload.sequence, interfaces,
         event.timestamp_text, event.id),
    )
    _reopen_feature(db, feature_id, activate=False)


def _phase_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.PhaseStatusChanged.model_validate(event.payload)
    status = payload.status.value
    db.execute("UPDATE phases SET status = ? WHERE id = ?", (status, payload.phase_id))
    if status not in ("completed", "failed"):
        feature_id = db.fetchvalue("SELECT feature_id FROM phases WHERE id = ?", (payload.phase_id,))
        if feature_id is not None:
            _reopen_feature(db, feature_id, activate=status == "in_progress")


def _phase_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.PhaseTargeted.model_validate(event.payload)
    db.execute("UPDATE phases SET status = 'completed' WHERE id = ?", (payload.phase_id,))


def _phase_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.PhaseTargeted.model_validate(event.payload)
    db.execute("UPDATE phases SET status = 'failed' WHERE id = ?", (payload.phase_id,))


# --- components -----------------------------------------------------------------------


def _component_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.ComponentCreated.model_validate(event.payload)
    component_id = event.component_id
    files, depends_on = compact_json(payload.files), compact_json(payload.depends_on)
    if db.fetchvalue("SELECT 1 FROM components WHERE id = ?", (component_id,)):
        db.execute(
            "UPDATE components SET title = ?, description = ?, files = ?, depends_on = ?, "
            "assigned_role = ? WHERE id = ?",
            (payload.title, payload.description, files, depends_on, payload.assigned_role,
             component_id),
        )
        return
    # The phase's feature wins over the payload's: queries group components through
    # their phase, as the original's join did.
    feature_id = (
        db.fetchvalue("SELECT feature_id FROM phases WHERE id = ?", (payload.phase_id,))
        or payload.feature_id
        or event.workflow_id
    )
    db.execute(
        "INSERT INTO components (id, phase_id, title, description, files, depends_on, status, "
        "assigned_role, output, error, created_at, feature_id, created_position) "
        "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, ?, ?, ?)",
        (component_id, payload.phase_id, payload.title, payload.description, files, depends_on,
         payload.assigned_role, event.timestamp_text, feature_id, event.id),
    )
    _reopen_phase(db, payload.phase_id, activate=False)
    _reopen_feature(db, feature_id, activate=False)


def _component_started(db: ScopedConnection, event: RecordedEvent) -> None:
    db.execute("UPDATE components SET status = 'implementing' WHERE id = ?", (event.component_id,))
    _reopen_for_component(db, str(event.component_id), activate=True)


def _component_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.ComponentCompleted.model_validate(event.payload)
    output = None if payload.output is None else compact_json(payload.output)
    db.execute(
        "UPDATE components SET status = 'completed', output = ? WHERE id = ?",
        (output, event.component_id),
    )


def _component_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.ComponentFailed.model_validate(event.payload)
    db.execute(
        "UPDATE components SET status = 'failed', error = ? WHERE id = ?",
        (payload.error, event.component_id),
    )


def _component_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.ComponentStatusChanged.model_validate(event.payload)
    status = payload.status.value
    output = None if payload.output is None else compact_json(payload.output)
    db.execute(
        "UPDATE components SET status = ?, output = ?, error = ? WHERE id = ?",
        (status, output, payload.error, event.component_id),
    )
    if status not in ("completed", "failed"):
        _reopen_for_component(db, str(event.component_id), activate=status in _ACTIVE_COMPONENT)


def _component_dependencies_set(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = ev.ComponentDependenciesSet.model_validate(event.payload)
    db.execute(
        "UPDATE components SET depends_on = ? WHERE id = ?",
        (compact_json(payload.depends_on), event.component_id),
    )


_HANDLERS = {
    ev.FEATURE_CREATED: _feature_created,
    ev.FEATURE_STATUS_CHANGED: _feature_status_changed,
    ev.FEATURE_COMPLETED: _feature_completed,
    ev.FEATURE_FAILED: _feature_failed,
    ev.PHASE_CREATED: _phase_created,
    ev.PHASE_STATUS_CHANGED: _phase_status_changed,
    ev.PHASE_COMPLETED: _phase_completed,
    ev.PHASE_FAILED: _phase_failed,
    ev.COMPONENT_CREATED: _component_created,
    ev.COMPONENT_STARTED: _component_started,
    ev.COMPONENT_COMPLETED: _component_completed,
    ev.COMPONENT_FAILED: _component_failed,
    ev.COMPONENT_STATUS_CHANGED: _component_status_changed,
    ev.COMPONENT_DEPENDENCIES_SET: _component_dependencies_set,
}
