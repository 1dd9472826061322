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

An event whose payload the model refuses (stored by a permissive store, such as the
supervisor facade's, or by raw SQL) is projected as far as it goes, from the values the
model accepts (see ``_payloads``): a created feature, phase or component without a
title gets its row with the title ``''`` (a correction without one keeps the title), a
phase without a sequence gets ``0``, a component's id is the envelope's
``component_id`` or else the payload's ``id`` (the original's key). An event without
the id of what it changes (no phase id, no component id) or without the status it sets
changes nothing.
"""

from __future__ import annotations

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json

from . import _events as ev
from ._batch import apply_batch
from ._models import ACTIVE_COMPONENT, ENDED, FEATURE_NOT_RUNNING, PHASE_NOT_RUNNING
from ._payloads import component_id_of, interfaces_json, payload_of

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


def build_projection() -> Projection:
    projection = Projection(
        PROJECTION_NAME,
        # 2: JSON columns written by evstore.encode_json, the kernel's own encoder (a tiny
        # float is 1e-7 there, 1e-07 before): the bump rebuilds old rows to match.
        version=2,
        tables=TABLES,
        migrations=[Migration("0001_features_phases_components", _SCHEMA)],
        description="features, phases and components (the supervisor's plan)",
    )
    for event_type, handler in _HANDLERS.items():
        projection.on(event_type)(handler)
    # Replays apply a batch at once, by the same rules (``_batch``).
    projection.on_batch(apply_batch)
    return projection


# --- reopening: work arrived at a level that had ended ------------------------------------

# Literal SQL chosen by a flag, never built from input.
_ENDED_SQL = "status IN ('completed', 'failed')"
_FEATURE_NOT_RUNNING_SQL = "status IN ('completed', 'failed', 'planning')"


def _reopen_phase(db: ScopedConnection, phase_id: str) -> None:
    """For a phase whose status the caller read and found to need it."""
    db.execute("UPDATE phases SET status = 'in_progress' WHERE id = ?", (phase_id,))


def _reopen_feature(db: ScopedConnection, feature_id: str, *, activate: bool) -> None:
    """Completed or failed → in_progress; with ``activate`` also planning → in_progress.
    A feature in review stays there: a person is looking at it."""
    condition = _FEATURE_NOT_RUNNING_SQL if activate else _ENDED_SQL
    db.execute(
        f"UPDATE features SET status = 'in_progress', completed_at = NULL WHERE id = ? AND {condition}",
        (feature_id,),
    )


def _reopen_for_component(db: ScopedConnection, component_id: str, *, activate: bool) -> None:
    """The component's phase and feature → in_progress if they had ended; with
    ``activate`` also from pending (phase) and planning (feature). One read finds both
    statuses, so the usual case (both already running) writes nothing."""
    row = db.fetchone(
        "SELECT c.phase_id, c.feature_id, p.status, f.status FROM components c "
        "LEFT JOIN phases p ON p.id = c.phase_id LEFT JOIN features f ON f.id = c.feature_id "
        "WHERE c.id = ?",
        (component_id,),
    )
    if row is None:
        return
    phase_id, feature_id, phase_status, feature_status = row
    if phase_status in (PHASE_NOT_RUNNING if activate else ENDED):
        _reopen_phase(db, phase_id)
    if feature_status in (FEATURE_NOT_RUNNING if activate else ENDED):
        _reopen_feature(db, feature_id, activate=activate)


# --- features -------------------------------------------------------------------------


def _feature_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.FeatureCreated)
    title = payload.get("title")
    db.execute(
        "INSERT INTO features (id, title, description, status, created_at, completed_at, "
        "created_position) VALUES (?, ?, ?, 'planning', ?, NULL, ?) "
        "ON CONFLICT (id) DO UPDATE SET title = COALESCE(?, features.title), "
        "description = excluded.description",
        (payload.get("id") or event.workflow_id, title or "", payload.get("description", ""),
         event.timestamp_text, event.id, title),
    )


def _feature_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.FeatureStatusChanged)
    status = payload.get("status")
    if status is not None:
        _set_feature_status(db, event, payload.get("feature_id"), status)


def _feature_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.FeatureTargeted)
    _set_feature_status(db, event, payload.get("feature_id"), "completed")


def _feature_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.FeatureTargeted)
    _set_feature_status(db, event, payload.get("feature_id"), "failed")


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
    payload = payload_of(event, ev.PhaseCreated)
    phase_id, title, sequence = payload.get("id"), payload.get("title"), payload.get("sequence")
    if phase_id is None:
        return
    interfaces = interfaces_json(payload.get("interfaces", []))
    feature_id = payload.get("feature_id") or event.workflow_id
    created = db.execute(
        "INSERT INTO phases (id, feature_id, title, sequence, status, interfaces, created_at, "
        "created_position) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (phase_id, feature_id, title or "", sequence or 0, interfaces, event.timestamp_text, event.id),
    ).rowcount
    if created:
        _reopen_feature(db, feature_id, activate=False)
        return
    # A known phase: a correction; its feature never changes, nor what it does not give.
    db.execute(
        "UPDATE phases SET title = COALESCE(?, title), sequence = COALESCE(?, sequence), "
        "interfaces = ? WHERE id = ?",
        (title, sequence, interfaces, phase_id),
    )


def _phase_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.PhaseStatusChanged)
    phase_id, status = payload.get("phase_id"), payload.get("status")
    if phase_id is None or status is None:
        return
    db.execute("UPDATE phases SET status = ? WHERE id = ?", (status, phase_id))
    if status not in ENDED:
        feature_id = db.fetchvalue("SELECT feature_id FROM phases WHERE id = ?", (phase_id,))
        if feature_id is not None:
            _reopen_feature(db, feature_id, activate=status == "in_progress")


def _phase_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.PhaseTargeted)
    db.execute("UPDATE phases SET status = 'completed' WHERE id = ?", (payload.get("phase_id"),))


def _phase_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.PhaseTargeted)
    db.execute("UPDATE phases SET status = 'failed' WHERE id = ?", (payload.get("phase_id"),))


# --- components -----------------------------------------------------------------------


def _component_created(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.ComponentCreated)
    component_id, phase_id = component_id_of(event), payload.get("phase_id")
    if component_id is None or phase_id is None:
        return
    title, description = payload.get("title"), payload.get("description", "")
    files, depends_on = encode_json(payload.get("files", [])), encode_json(payload.get("depends_on", []))
    role = payload.get("assigned_role")
    # The phase's feature wins over the payload's: queries group components through
    # their phase, as the original's join did. The statuses say what a new component
    # reopens.
    phase = db.fetchone(
        "SELECT p.feature_id, p.status, f.status FROM phases p "
        "LEFT JOIN features f ON f.id = p.feature_id WHERE p.id = ?",
        (phase_id,),
    )
    feature_id = (phase and phase[0]) or payload.get("feature_id") or event.workflow_id
    created = db.execute(
        "INSERT INTO components (id, phase_id, title, description, files, depends_on, status, "
        "assigned_role, output, error, created_at, feature_id, created_position) "
        "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (component_id, phase_id, title or "", description, files, depends_on, role,
         event.timestamp_text, feature_id, event.id),
    ).rowcount
    if not created:
        # A known component: a correction; its phase, status and place never change.
        db.execute(
            "UPDATE components SET title = COALESCE(?, title), description = ?, files = ?, depends_on = ?, "
            "assigned_role = ? WHERE id = ?",
            (title, description, files, depends_on, role, component_id),
        )
        return
    if phase is not None and phase[1] in ENDED:
        _reopen_phase(db, phase_id)
    # Unless the phase's read gave this feature's status, the guarded update decides.
    if phase is None or phase[0] != feature_id or phase[2] in ENDED:
        _reopen_feature(db, feature_id, activate=False)


def _component_started(db: ScopedConnection, event: RecordedEvent) -> None:
    if event.component_id is None:
        return
    db.execute("UPDATE components SET status = 'implementing' WHERE id = ?", (event.component_id,))
    _reopen_for_component(db, event.component_id, activate=True)


def _component_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    # The original stored {} when a completion carried no output.
    output = payload_of(event, ev.ComponentCompleted).get("output", {})
    db.execute(
        "UPDATE components SET status = 'completed', output = ? WHERE id = ?",
        (None if output is None else encode_json(output), event.component_id),
    )


def _component_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.ComponentFailed)
    db.execute(
        "UPDATE components SET status = 'failed', error = ? WHERE id = ?",
        (payload.get("error"), event.component_id),
    )


def _component_status_changed(db: ScopedConnection, event: RecordedEvent) -> None:
    payload = payload_of(event, ev.ComponentStatusChanged)
    status, output = payload.get("status"), payload.get("output")
    if status is None or event.component_id is None:
        return
    db.execute(
        "UPDATE components SET status = ?, output = ?, error = ? WHERE id = ?",
        (status, None if output is None else encode_json(output), payload.get("error"),
         event.component_id),
    )
    if status not in ENDED:
        _reopen_for_component(db, event.component_id, activate=status in ACTIVE_COMPONENT)


def _component_dependencies_set(db: ScopedConnection, event: RecordedEvent) -> None:
    depends_on = payload_of(event, ev.ComponentDependenciesSet).get("depends_on")
    if depends_on is not None:
        db.execute(
            "UPDATE components SET depends_on = ? WHERE id = ?",
            (encode_json(depends_on), event.component_id),
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
