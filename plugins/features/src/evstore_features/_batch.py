"""The features projection's batch handler: what replays (rebuild, catch-up, workers)
run instead of the per-event handlers of ``_projection``, by the same rules.

One event at a time, a handler runs one to four statements, most of them reading rows
an event shortly before wrote. Here a batch reads the rows its events name once (one
query per table), applies every event to those rows in memory, in position order, by
the rules ``_projection`` documents, and then writes each new row once and each changed
row once: a component created, started and completed in one batch is one INSERT.

Writing only a row's last state skips the values it held in between, which the
per-event statements would have bound. A value one backend refuses (a NUL character on
PostgreSQL, a sequence too large for a 64-bit INTEGER) must not vanish with them and
let a batch succeed where the same events one by one fail. So every value taken from a
payload is checked to be one both backends store as given, and anything else (such a
value, an id that is not a string) raises ``_Unusual``: the kernel then applies the
batch again through the per-event handlers, which decide exactly. Only events stored
without validation (a permissive store, raw SQL) can be unusual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from evstore import RecordedEvent, ScopedConnection, encode_json, in_list

from . import _events as ev
from ._models import ACTIVE_COMPONENT, ENDED, FEATURE_NOT_RUNNING, PHASE_NOT_RUNNING
from ._payloads import component_id_of, interfaces_json, payload_of

Row = list[Any]
Payload = Mapping[str, Any]

# Column positions in the rows below (each table's columns in declaration order).
_FEATURE_COLUMNS = ("id", "title", "description", "status", "created_at", "completed_at", "created_position")
_F_TITLE, _F_DESCRIPTION, _F_STATUS, _F_COMPLETED_AT = 1, 2, 3, 5
_PHASE_COLUMNS = ("id", "feature_id", "title", "sequence", "status", "interfaces", "created_at", "created_position")
_P_FEATURE, _P_TITLE, _P_SEQUENCE, _P_STATUS, _P_INTERFACES = 1, 2, 3, 4, 5
_COMPONENT_COLUMNS = (
    "id", "phase_id", "title", "description", "files", "depends_on", "status", "assigned_role", "output",
    "error", "created_at", "feature_id", "created_position",
)
_C_PHASE, _C_TITLE, _C_DESCRIPTION, _C_FILES, _C_DEPENDS_ON, _C_STATUS = 1, 2, 3, 4, 5, 6
_C_ROLE, _C_OUTPUT, _C_ERROR, _C_FEATURE = 7, 8, 9, 11

# Ids per IN (...) read: far below every backend's limit on parameters (SQLite's was 999).
_READ_CHUNK = 512
# SQLite's INTEGER (PostgreSQL's is BIGINT: the kernel maps the type to the same range).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class _Unusual(Exception):
    """This batch holds a value the in-memory rules do not vouch for: the kernel applies
    it again event by event (internal)."""


def _text(value: Any) -> Any:
    """``value`` if it is ``None`` or text every backend stores as given. (The kernel
    refuses NUL in payloads it appends; raw SQL may still have stored one.)"""
    if value is None or (type(value) is str and "\x00" not in value):
        return value
    raise _Unusual(f"{value!r} is not text every backend stores")


def _integer(value: Any) -> Any:
    if value is None or (type(value) is int and _INT_MIN <= value <= _INT_MAX):
        return value
    raise _Unusual(f"{value!r} is not an integer every backend stores")


class _Table:
    """The rows of one table that a batch reads or writes, by id."""

    __slots__ = ("_db", "_insert", "_mutable", "_select", "_update", "changed", "new", "rows")

    def __init__(self, db: ScopedConnection, table: str, columns: Sequence[str], mutable: Sequence[str]) -> None:
        self._db = db
        # id -> the row as it is now; None: the table has no such row (and the batch
        # has not created it yet).
        self.rows: dict[str, Row | None] = {}
        self.new: dict[str, Row] = {}  # created by this batch, in creation order
        self.changed: dict[str, Row] = {}  # read from the table, then changed
        self._mutable = [columns.index(name) for name in mutable]
        self._select = f"SELECT {', '.join(columns)} FROM {table} WHERE id IN "
        self._insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self._update = f"UPDATE {table} SET {', '.join(f'{name} = ?' for name in mutable)} WHERE id = ?"

    def read(self, ids: Iterable[Any]) -> None:
        """Read the rows of ``ids`` not read yet, in as few queries as possible."""
        wanted = [key for key in dict.fromkeys(ids) if key not in self.rows]
        for key in wanted:
            if type(key) is not str:
                raise _Unusual(f"id {key!r} is not text")
            _text(key)
        for start in range(0, len(wanted), _READ_CHUNK):
            marks, chunk = in_list(wanted[start:start + _READ_CHUNK])
            for row in self._db.fetchall(self._select + marks, chunk):
                self.rows[row[0]] = list(row)
        for key in wanted:
            self.rows.setdefault(key, None)

    def get(self, key: Any) -> Row | None:
        if key is None:
            return None  # ``WHERE id = NULL`` matches no row
        if key not in self.rows:
            self.read((key,))
        return self.rows[key]

    def create(self, row: Row) -> None:
        self.rows[row[0]] = self.new[row[0]] = row

    def touch(self, row: Row) -> None:
        """``row`` changed: a row this batch created is written as it ends up anyway."""
        if row[0] not in self.new:
            self.changed[row[0]] = row

    def write(self) -> None:
        # New and changed rows are different rows, so the order of the two statements
        # does not matter; new rows keep their creation order (SQLite's rowids).
        if self.new:
            self._db.executemany(self._insert, [tuple(row) for row in self.new.values()])
        if self.changed:
            mutable = self._mutable
            self._db.executemany(
                self._update, [(*(row[i] for i in mutable), row[0]) for row in self.changed.values()]
            )


class _Batch:
    """The three tables as one batch of events leaves them."""

    __slots__ = ("components", "features", "phases")

    def __init__(self, db: ScopedConnection) -> None:
        self.features = _Table(db, "features", _FEATURE_COLUMNS, ("title", "description", "status", "completed_at"))
        self.phases = _Table(db, "phases", _PHASE_COLUMNS, ("title", "sequence", "status", "interfaces"))
        self.components = _Table(
            db, "components", _COMPONENT_COLUMNS,
            ("title", "description", "files", "depends_on", "status", "assigned_role", "output", "error"),
        )

    def read_named(self, prepared: Sequence[tuple[RecordedEvent, Payload]]) -> None:
        """Read every row the events name, and the phases and features of the
        components and phases read, so that applying them rarely reads again."""
        features: list[Any] = []
        phases: list[Any] = []
        components: list[Any] = []
        for event, payload in prepared:
            kind = event.event_type
            if kind in _FEATURE_EVENTS:
                features.append(payload.get("feature_id" if kind != ev.FEATURE_CREATED else "id") or event.workflow_id)
            elif kind in _PHASE_EVENTS:
                phases.append(payload.get("phase_id" if kind != ev.PHASE_CREATED else "id"))
                if kind == ev.PHASE_CREATED:
                    features.append(payload.get("feature_id") or event.workflow_id)
            else:
                components.append(component_id_of(event))
                if kind == ev.COMPONENT_CREATED:
                    phases.append(payload.get("phase_id"))
                    features.append(payload.get("feature_id") or event.workflow_id)
        self.components.read(key for key in components if key is not None)
        for row in self.components.rows.values():
            if row is not None:
                phases.append(row[_C_PHASE])
                features.append(row[_C_FEATURE])
        self.phases.read(key for key in phases if key is not None)
        features.extend(row[_P_FEATURE] for row in self.phases.rows.values() if row is not None)
        self.features.read(features)

    def write(self) -> None:
        for table in (self.features, self.phases, self.components):
            table.write()

    # --- reopening (``_projection``'s _reopen_*) -------------------------------------------

    def reopen_feature(self, feature_id: Any, *, activate: bool) -> None:
        feature = self.features.get(feature_id)
        if feature is not None and feature[_F_STATUS] in (FEATURE_NOT_RUNNING if activate else ENDED):
            feature[_F_STATUS], feature[_F_COMPLETED_AT] = "in_progress", None
            self.features.touch(feature)

    def reopen_for_component(self, component: Row, *, activate: bool) -> None:
        phase = self.phases.get(component[_C_PHASE])
        if phase is not None and phase[_P_STATUS] in (PHASE_NOT_RUNNING if activate else ENDED):
            phase[_P_STATUS] = "in_progress"
            self.phases.touch(phase)
        self.reopen_feature(component[_C_FEATURE], activate=activate)

    # --- features ---------------------------------------------------------------------------

    def feature_created(self, event: RecordedEvent, payload: Payload) -> None:
        feature_id = _text(payload.get("id") or event.workflow_id)
        title, description = _text(payload.get("title")), _text(payload.get("description", ""))
        feature = self.features.get(feature_id)
        if feature is None:
            self.features.create([
                feature_id, title or "", description, "planning", event.timestamp_text, None, event.id,
            ])
            return
        if title is not None:
            feature[_F_TITLE] = title
        feature[_F_DESCRIPTION] = description
        self.features.touch(feature)

    def feature_status_changed(self, event: RecordedEvent, payload: Payload) -> None:
        status = payload.get("status")
        if status is not None:
            self.set_feature_status(event, payload.get("feature_id"), _text(status))

    def feature_completed(self, event: RecordedEvent, payload: Payload) -> None:
        self.set_feature_status(event, payload.get("feature_id"), "completed")

    def feature_failed(self, event: RecordedEvent, payload: Payload) -> None:
        self.set_feature_status(event, payload.get("feature_id"), "failed")

    def set_feature_status(self, event: RecordedEvent, feature_id: Any, status: str) -> None:
        feature = self.features.get(_text(feature_id or event.workflow_id))
        if feature is not None:
            feature[_F_STATUS] = status
            feature[_F_COMPLETED_AT] = event.timestamp_text if status == "completed" else None
            self.features.touch(feature)

    # --- phases -----------------------------------------------------------------------------

    def phase_created(self, event: RecordedEvent, payload: Payload) -> None:
        phase_id = _text(payload.get("id"))
        if phase_id is None:
            return
        title, sequence = _text(payload.get("title")), _integer(payload.get("sequence"))
        interfaces = interfaces_json(payload.get("interfaces", []))
        feature_id = _text(payload.get("feature_id") or event.workflow_id)
        phase = self.phases.get(phase_id)
        if phase is None:
            self.phases.create([
                phase_id, feature_id, title or "", sequence or 0, "pending", interfaces, event.timestamp_text,
                event.id,
            ])
            self.reopen_feature(feature_id, activate=False)
            return
        if title is not None:
            phase[_P_TITLE] = title
        if sequence is not None:
            phase[_P_SEQUENCE] = sequence
        phase[_P_INTERFACES] = interfaces
        self.phases.touch(phase)

    def phase_status_changed(self, event: RecordedEvent, payload: Payload) -> None:
        phase_id, status = _text(payload.get("phase_id")), _text(payload.get("status"))
        if phase_id is None or status is None:
            return
        self.set_phase_status(phase_id, status)
        phase = self.phases.get(phase_id)
        if status not in ENDED and phase is not None:
            self.reopen_feature(phase[_P_FEATURE], activate=status == "in_progress")

    def phase_completed(self, event: RecordedEvent, payload: Payload) -> None:
        self.set_phase_status(_text(payload.get("phase_id")), "completed")

    def phase_failed(self, event: RecordedEvent, payload: Payload) -> None:
        self.set_phase_status(_text(payload.get("phase_id")), "failed")

    def set_phase_status(self, phase_id: Any, status: str) -> None:
        phase = self.phases.get(phase_id)
        if phase is not None:
            phase[_P_STATUS] = status
            self.phases.touch(phase)

    # --- components -------------------------------------------------------------------------

    def component_created(self, event: RecordedEvent, payload: Payload) -> None:
        component_id, phase_id = _text(component_id_of(event)), _text(payload.get("phase_id"))
        if component_id is None or phase_id is None:
            return
        title, description = _text(payload.get("title")), _text(payload.get("description", ""))
        files, depends_on = encode_json(payload.get("files", [])), encode_json(payload.get("depends_on", []))
        role = _text(payload.get("assigned_role"))
        phase = self.phases.get(phase_id)
        phase_feature = phase[_P_FEATURE] if phase is not None else None
        feature_id = _text(phase_feature or payload.get("feature_id") or event.workflow_id)
        component = self.components.get(component_id)
        if component is not None:
            if title is not None:
                component[_C_TITLE] = title
            component[_C_DESCRIPTION], component[_C_FILES], component[_C_DEPENDS_ON] = description, files, depends_on
            component[_C_ROLE] = role
            self.components.touch(component)
            return
        self.components.create([
            component_id, phase_id, title or "", description, files, depends_on, "pending", role, None, None,
            event.timestamp_text, feature_id, event.id,
        ])
        # The per-event handler read the phase's feature's status before it reopened the
        # phase; reopening a phase changes no feature, so reading it now is the same.
        phase_feature_row = self.features.get(phase_feature) if phase is not None else None
        phase_feature_status = phase_feature_row[_F_STATUS] if phase_feature_row is not None else None
        if phase is not None and phase[_P_STATUS] in ENDED:
            phase[_P_STATUS] = "in_progress"
            self.phases.touch(phase)
        if phase is None or phase_feature != feature_id or phase_feature_status in ENDED:
            self.reopen_feature(feature_id, activate=False)

    def component_started(self, event: RecordedEvent, payload: Payload) -> None:
        component = self.components.get(event.component_id)
        if component is not None:
            component[_C_STATUS] = "implementing"
            self.components.touch(component)
            self.reopen_for_component(component, activate=True)

    def component_completed(self, event: RecordedEvent, payload: Payload) -> None:
        output = payload.get("output", {})
        output_json = None if output is None else encode_json(output)
        component = self.components.get(event.component_id)
        if component is not None:
            component[_C_STATUS], component[_C_OUTPUT] = "completed", output_json
            self.components.touch(component)

    def component_failed(self, event: RecordedEvent, payload: Payload) -> None:
        error = _text(payload.get("error"))
        component = self.components.get(event.component_id)
        if component is not None:
            component[_C_STATUS], component[_C_ERROR] = "failed", error
            self.components.touch(component)

    def component_status_changed(self, event: RecordedEvent, payload: Payload) -> None:
        status, output = _text(payload.get("status")), payload.get("output")
        if status is None or event.component_id is None:
            return
        output_json = None if output is None else encode_json(output)
        error = _text(payload.get("error"))
        component = self.components.get(event.component_id)
        if component is None:
            return
        component[_C_STATUS], component[_C_OUTPUT], component[_C_ERROR] = status, output_json, error
        self.components.touch(component)
        if status not in ENDED:
            self.reopen_for_component(component, activate=status in ACTIVE_COMPONENT)

    def component_dependencies_set(self, event: RecordedEvent, payload: Payload) -> None:
        depends_on = payload.get("depends_on")
        if depends_on is None:
            return
        depends_on_json = encode_json(depends_on)
        component = self.components.get(event.component_id)
        if component is not None:
            component[_C_DEPENDS_ON] = depends_on_json
            self.components.touch(component)


def apply_batch(db: ScopedConnection, events: Sequence[RecordedEvent]) -> None:
    """The ``on_batch`` handler: ``events`` applied as the per-event handlers would apply
    them one after another (``_Unusual`` when that cannot be vouched for)."""
    prepared = [(event, _payload(event)) for event in events]
    batch = _Batch(db)
    batch.read_named(prepared)
    for event, payload in prepared:
        _APPLY[event.event_type](batch, event, payload)
    batch.write()


def _payload(event: RecordedEvent) -> Payload:
    model = _MODELS[event.event_type]
    # component_started has no payload model, and its handler reads no payload.
    return _NO_PAYLOAD if model is None else payload_of(event, model)


_NO_PAYLOAD: Payload = {}
_FEATURE_EVENTS = frozenset({ev.FEATURE_CREATED, ev.FEATURE_STATUS_CHANGED, ev.FEATURE_COMPLETED, ev.FEATURE_FAILED})
_PHASE_EVENTS = frozenset({ev.PHASE_CREATED, ev.PHASE_STATUS_CHANGED, ev.PHASE_COMPLETED, ev.PHASE_FAILED})

# event type -> (the payload model its per-event handler reads it with, what it does here)
_RULES: dict[str, tuple[Any, Callable[[_Batch, RecordedEvent, Payload], None]]] = {
    ev.FEATURE_CREATED: (ev.FeatureCreated, _Batch.feature_created),
    ev.FEATURE_STATUS_CHANGED: (ev.FeatureStatusChanged, _Batch.feature_status_changed),
    ev.FEATURE_COMPLETED: (ev.FeatureTargeted, _Batch.feature_completed),
    ev.FEATURE_FAILED: (ev.FeatureTargeted, _Batch.feature_failed),
    ev.PHASE_CREATED: (ev.PhaseCreated, _Batch.phase_created),
    ev.PHASE_STATUS_CHANGED: (ev.PhaseStatusChanged, _Batch.phase_status_changed),
    ev.PHASE_COMPLETED: (ev.PhaseTargeted, _Batch.phase_completed),
    ev.PHASE_FAILED: (ev.PhaseTargeted, _Batch.phase_failed),
    ev.COMPONENT_CREATED: (ev.ComponentCreated, _Batch.component_created),
    ev.COMPONENT_STARTED: (None, _Batch.component_started),
    ev.COMPONENT_COMPLETED: (ev.ComponentCompleted, _Batch.component_completed),
    ev.COMPONENT_FAILED: (ev.ComponentFailed, _Batch.component_failed),
    ev.COMPONENT_STATUS_CHANGED: (ev.ComponentStatusChanged, _Batch.component_status_changed),
    ev.COMPONENT_DEPENDENCIES_SET: (ev.ComponentDependenciesSet, _Batch.component_dependencies_set),
}
_MODELS = {event_type: model for event_type, (model, _) in _RULES.items()}
_APPLY = {event_type: apply for event_type, (_, apply) in _RULES.items()}
