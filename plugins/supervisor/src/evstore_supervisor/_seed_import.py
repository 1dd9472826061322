"""Writing an original supervisor database into an evstore store.

Two passes, in one transaction (an import is all or nothing):

1. **The log.** The original's ``events`` rows are appended in id order, as themselves,
   with their timestamps (normalised to aware UTC). Types no loaded plugin declares are
   kept as they are (the store is opened permissive). An event a plugin refuses (a
   ``step_started`` without a role, a malformed payload), and the original's
   ``checkpoint_created`` / ``checkpoint_restored`` (its projections ignored them: its
   ``checkpoints`` table is imported instead, so they must not add rows here), is kept
   as a ``legacy_event`` holding the original's fields and the reason.
2. **The state that never reached the log.** The original's methods also wrote tables
   directly (``update_*_status``, ``update_step``, ``update_component``, dependency
   remaps, the cascade, metrics, checkpoints, the graph tables). Each table row is
   compared with what the replayed log produced, and events are synthesised for the
   difference: ``feature_status_changed``, ``component_dependencies_set``,
   ``metric_recorded`` (one per row, at the row's time), ``checkpoint_created``, ...
   Each carries ``metadata = {"imported_from": "seed", "source_table", "source_id"}``.

Reactors are off for the whole import. The original never logged its cascade, so
running the cascade on the replayed log would append phase and feature events the
original never had; instead, the statuses its cascade wrote are read from its tables
and synthesised like any other direct write, so the final statuses are exactly the
original's. ``phase_completed`` / ``feature_completed`` (and ``*_failed``) are used for
those, since that is what evstore's cascade logs.

Event ids are derived from the source's fingerprint and the row, so the same source
always gives the same ids: a second import of an unchanged source is recognised.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from evstore import EventStore, EvstoreError, NewEvent

from . import _plugin
from ._seed_reader import Row, Seed, is_json, json_value, text, utc_time
from ._seed_report import ImportReport, Problem

IMPORTED_FROM: Final = "seed"
_ID_NAMESPACE: Final = uuid.UUID("6f1d4c2e-8a57-4b0e-9d3c-5e2f7a9b1c04")

# The original's projections ignored these; its checkpoints table says what happened.
_NOT_REPLAYED: Final = {
    "checkpoint_created": "the original's projections ignored checkpoint_created; its checkpoints table "
    "is imported instead",
    "checkpoint_restored": "the original's projections ignored checkpoint_restored; its checkpoint ids do "
    "not exist here",
}
_STEP_STATUSES: Final = frozenset(
    {"pending", "in_progress", "completed", "failed", "blocked", "awaiting_approval", "applying"}
)
_FEATURE_STATUSES: Final = frozenset({"planning", "in_progress", "review", "completed", "failed"})
_PHASE_STATUSES: Final = frozenset({"pending", "in_progress", "completed", "failed"})
_COMPONENT_STATUSES: Final = frozenset({"pending", "implementing", "testing", "review", "completed", "failed"})
# A metric whose row names no workflow still counts for routing: it goes on this stream.
NO_WORKFLOW_STREAM: Final = "seed:no-workflow"


def seed_event_id(fingerprint: str, table: str, source_id: object, serial: int) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{fingerprint}/{table}/{source_id}/{serial}"))


def first_event_id(seed: Seed) -> str | None:
    """The id the import gives its first event, to recognise an earlier import."""
    events = seed.rows("events")
    return seed_event_id(seed.fingerprint, "events", events[0].get("id"), 0) if events else None


class SeedImporter:
    """Imports one read ``Seed`` into ``store`` (opened permissive, reactors off)."""

    def __init__(self, store: EventStore, seed: Seed, report: ImportReport) -> None:
        self.store = store
        self.seed = seed
        self.report = report
        self.now = datetime.now(UTC)
        self._serials: Counter[tuple[str, str]] = Counter()
        self._last_time = self.now

    def run(self) -> None:
        from ._seed_graph import import_graph

        with self.store.transaction():
            self._replay_log()
            self._workflows()
            self._steps()
            self._features()
            self._phases()
            self._components()
            self._phase_statuses()
            self._feature_statuses()
            self._checkpoints()
            self._metrics()
            import_graph(self)

    # --- building and appending events ------------------------------------------------------

    def event(
        self, table: str, source_id: object, workflow_id: str, event_type: str, when: datetime,
        *, payload: dict[str, Any] | None = None, **envelope: str | None,
    ) -> NewEvent:
        """A synthesised event for a row of ``table``, with its provenance."""
        key = (table, str(source_id))
        serial = self._serials[key]
        self._serials[key] += 1
        return NewEvent(
            workflow_id=workflow_id, event_type=event_type, payload=payload or {},
            metadata={"imported_from": IMPORTED_FROM, "source_table": table, "source_id": source_id},
            event_id=seed_event_id(self.seed.fingerprint, table, source_id, serial), timestamp=when,
            **envelope,
        )

    def emit(self, table: str, source_id: object, events: Sequence[NewEvent], *, counted: str | None = None) -> bool:
        """Append one row's events atomically (a savepoint); a refusal undoes them and is
        reported as that row not carried over. Returns whether they were appended."""
        if not events:
            return True
        try:
            with self.store.transaction():
                self.store.append_many(list(events))
        except EvstoreError as error:
            self.problem(table, source_id, str(error))
            return False
        self.report.synthesized[counted or table] += len(events)
        return True

    def problem(self, table: str, source_id: object, reason: str) -> None:
        self.report.not_carried.append(Problem(table, str(source_id), reason))

    def time(self, value: Any, fallback: datetime, table: str, source_id: object, column: str) -> datetime:
        """The row's time as aware UTC; ``fallback`` when it has none. A value that is
        not a time is reported (the row is still carried, at ``fallback``)."""
        parsed, naive = utc_time(value)
        if parsed is not None:
            self.report.naive_times += naive
            return parsed
        if value is not None and value != "":
            self.problem(table, source_id, f"{column} {value!r} is not a time; imported as {fallback.isoformat()}")
        return fallback

    def json_column(
        self, row: Row, column: str, kind: type, default: Any, table: str, source_id: object
    ) -> Any:
        """A JSON column's value if it is a ``kind`` (or NULL: ``default``), else
        ``default`` with a problem reported."""
        raw = row.get(column)
        value = json_value(raw)
        if value is None:
            return default
        if not is_json(value) or not isinstance(value, kind):
            self.problem(table, source_id, f"{column} {raw!r:.80} is not a JSON {kind.__name__}; "
                                           f"imported as {default!r}")
            return default
        return value

    def current(self, sql: str, params: Sequence[Any]) -> Any:
        return self.store.reader.fetchone(sql, params)

    # --- 1. the log --------------------------------------------------------------------------

    def _replay_log(self) -> None:
        declared = self.store.registry.event_types
        for row in self.seed.rows("events"):
            source_id = row.get("id")
            when = self.time(row.get("timestamp"), self._last_time, "events", source_id, "timestamp")
            self._last_time = when
            workflow_id = text(row.get("workflow_id")) or ""
            event_type = text(row.get("event_type")) or ""
            raw_payload = row.get("payload")
            payload = json_value(raw_payload)
            if payload is None:
                payload = {}
            reason = _NOT_REPLAYED.get(event_type)
            if reason is None and (not is_json(payload) or not isinstance(payload, dict)):
                reason = "its payload is not a JSON object"
            envelope = {name: text(row.get(name)) for name in ("role", "step_id", "component_id", "status")}
            metadata = {"imported_from": IMPORTED_FROM, "source_table": "events", "source_id": source_id}
            event_id = seed_event_id(self.seed.fingerprint, "events", source_id, 0)
            if reason is None and event_type in declared:
                # The store is opened permissive and keeps what it is given: an event its
                # plugin would refuse is carried over as a legacy_event instead.
                reason = declared[event_type][0].refusal(envelope, payload)
            if reason is None:
                event = NewEvent(
                    workflow_id=workflow_id, event_type=event_type, payload=payload, metadata=metadata,
                    event_id=event_id, timestamp=when, **envelope,
                )
                try:
                    with self.store.transaction():
                        self.store.append(event)
                except EvstoreError as error:
                    reason = str(error)
                else:
                    self.report.original_events += 1
                    if event_type not in declared:
                        self.report.unknown_types[event_type] += 1
                    continue
            self._keep_as_legacy(row, workflow_id, event_type, envelope, raw_payload, payload, reason, when)

    def _keep_as_legacy(
        self, row: Row, workflow_id: str, event_type: str, envelope: dict[str, str | None],
        raw_payload: Any, payload: Any, reason: str, when: datetime,
    ) -> None:
        source_id = row.get("id")
        kept = {
            "event_type": event_type, **envelope,
            "payload": payload if is_json(payload) else text(raw_payload),
            "timestamp": text(row.get("timestamp")), "reason": reason,
        }
        event = NewEvent(
            workflow_id=workflow_id or "seed:events", event_type=_plugin.LEGACY_EVENT, payload=kept,
            metadata={"imported_from": IMPORTED_FROM, "source_table": "events", "source_id": source_id},
            event_id=seed_event_id(self.seed.fingerprint, "events", source_id, 1), timestamp=when,
        )
        try:
            with self.store.transaction():
                self.store.append(event)
        except EvstoreError as error:
            self.problem("events", source_id, f"{event_type!r} could not be kept either: {error}")
            return
        self.report.legacy_events += 1

    # --- 2. state written directly -----------------------------------------------------------

    def _workflows(self) -> None:
        for row in self.seed.rows("workflows"):
            workflow_id = text(row.get("id"))
            if not workflow_id:
                continue
            status = text(row.get("status"))
            context = self.json_column(row, "context", dict, {}, "workflows", workflow_id)
            current_step = text(row.get("current_step"))
            ours = self.current(
                "SELECT status, current_step, context FROM workflows WHERE id = ?", (workflow_id,)
            )
            started = self.time(row.get("created_at"), self.now, "workflows", workflow_id, "created_at")
            updated = self.time(row.get("updated_at"), self.now, "workflows", workflow_id, "updated_at")
            events: list[NewEvent] = []
            state = None if ours is None else ours[0]
            if ours is None or ours[1] != current_step or json_value(ours[2]) != context:
                # workflow_started sets the current step and context; it makes the run active.
                events.append(self.event("workflows", workflow_id, workflow_id, "workflow_started", started,
                                         payload={"initial_step": current_step, "context": context}))
                state = "active"
            if status != state:
                if status == "completed":
                    events.append(self.event("workflows", workflow_id, workflow_id, "workflow_completed", updated))
                elif status == "failed":
                    events.append(self.event("workflows", workflow_id, workflow_id, "workflow_failed", updated,
                                             payload={"error": text(row.get("error"))}))
                elif status != "active":
                    self.problem("workflows", workflow_id, f"status {status!r} has no workflow event in evstore")
            self.emit("workflows", workflow_id, events)

    def _steps(self) -> None:
        for row in self.seed.rows("steps"):
            step_id = text(row.get("id"))
            if not step_id:
                continue
            workflow_id, role = text(row.get("workflow_id")) or "", text(row.get("role"))
            gates = self.json_column(row, "gates", list, [], "steps", step_id)
            context = self.json_column(row, "context", dict, {}, "steps", step_id)
            output = self.json_column(row, "output", dict, None, "steps", step_id)
            status, error = text(row.get("status")), text(row.get("error"))
            ours = self.current(
                "SELECT workflow_id, role, gates, context, status, output, error FROM steps WHERE id = ?",
                (step_id,),
            )
            created = self.time(row.get("created_at"), self.now, "steps", step_id, "created_at")
            updated = self.time(row.get("updated_at"), self.now, "steps", step_id, "updated_at")
            events: list[NewEvent] = []
            if ours is None or (ours[0], ours[1], json_value(ours[2]), json_value(ours[3])) != (
                workflow_id, role, gates, context
            ):
                events.append(self.event("steps", step_id, workflow_id, "step_started", created, role=role,
                                         step_id=step_id, payload={"gates": gates, "context": context}))
                state: tuple[Any, ...] = ("in_progress", None, None)
            else:
                state = (ours[4], json_value(ours[5]), ours[6])
            if (status, output, error) != state:
                if status not in _STEP_STATUSES:
                    self.problem("steps", step_id, f"status {status!r} is not a step status")
                else:
                    events.append(self.event("steps", step_id, workflow_id, "step_status_changed", updated,
                                             step_id=step_id,
                                             payload={"status": status, "output": output, "error": error}))
            self.emit("steps", step_id, events)

    def _features(self) -> None:
        for row in self.seed.rows("features"):
            feature_id = text(row.get("id"))
            if not feature_id:
                continue
            title, description = text(row.get("title")) or "", text(row.get("description")) or ""
            ours = self.current("SELECT title, description FROM features WHERE id = ?", (feature_id,))
            if ours is None or tuple(ours) != (title, description):
                created = self.time(row.get("created_at"), self.now, "features", feature_id, "created_at")
                self.emit("features", feature_id, [self.event(
                    "features", feature_id, feature_id, "feature_created", created,
                    payload={"id": feature_id, "title": title, "description": description},
                )])

    def _phases(self) -> None:
        for row in self.seed.rows("phases"):
            phase_id, feature_id = text(row.get("id")), text(row.get("feature_id"))
            if not phase_id:
                continue
            if not feature_id:
                self.problem("phases", phase_id, "it names no feature")
                continue
            title = text(row.get("title")) or ""
            sequence = _integer(row.get("sequence"))
            if sequence is None:
                self.problem("phases", phase_id, f"sequence {row.get('sequence')!r} is not a number; imported as 0")
                sequence = 0
            interfaces = self.json_column(row, "interfaces", list, [], "phases", phase_id)
            ours = self.current("SELECT title, sequence, interfaces FROM phases WHERE id = ?", (phase_id,))
            if ours is None or (ours[0], ours[1], json_value(ours[2])) != (title, sequence, interfaces):
                created = self.time(row.get("created_at"), self.now, "phases", phase_id, "created_at")
                self.emit("phases", phase_id, [self.event(
                    "phases", phase_id, feature_id, "phase_created", created,
                    payload={"id": phase_id, "feature_id": feature_id, "title": title, "sequence": sequence,
                             "interfaces": interfaces},
                )])

    def _components(self) -> None:
        original_phases = {text(row.get("id")): text(row.get("feature_id")) for row in self.seed.rows("phases")}
        for row in self.seed.rows("components"):
            component_id, phase_id = text(row.get("id")), text(row.get("phase_id"))
            if not component_id:
                continue
            feature_id = (
                self.store.reader.fetchvalue("SELECT feature_id FROM phases WHERE id = ?", (phase_id,))
                or original_phases.get(phase_id)
            )
            if not phase_id or not feature_id:
                self.problem("components", component_id, f"it references unknown phase {phase_id!r}")
                continue
            self._component(row, component_id, phase_id, feature_id)

    def _component(self, row: Row, component_id: str, phase_id: str, feature_id: str) -> None:
        table = "components"
        title, description = text(row.get("title")) or "", text(row.get("description")) or ""
        files = self.json_column(row, "files", list, [], table, component_id)
        depends_on = self.json_column(row, "depends_on", list, [], table, component_id)
        role = text(row.get("assigned_role"))
        output = self.json_column(row, "output", dict, None, table, component_id)
        status, error = text(row.get("status")), text(row.get("error"))
        ours = self.current(
            "SELECT title, description, files, assigned_role, depends_on, status, output, error "
            "FROM components WHERE id = ?", (component_id,),
        )
        created = self.time(row.get("created_at"), self.now, table, component_id, "created_at")
        events: list[NewEvent] = []
        state: tuple[Any, ...] = ("pending", None, None) if ours is None else (ours[5], json_value(ours[6]), ours[7])
        if ours is None or (ours[0], ours[1], json_value(ours[2]), ours[3]) != (title, description, files, role):
            # Creates the component, or corrects the fields the original could change.
            events.append(self.event(table, component_id, feature_id, "component_created", created,
                                     component_id=component_id, payload={
                                         "phase_id": phase_id, "feature_id": feature_id, "title": title,
                                         "description": description, "files": files, "depends_on": depends_on,
                                         "assigned_role": role}))
        elif json_value(ours[4]) != depends_on:
            # A dependency remap the original wrote with UPDATE.
            events.append(self.event(table, component_id, feature_id, "component_dependencies_set", self.now,
                                     component_id=component_id, payload={"depends_on": depends_on}))
        if (status, output, error) != state:
            if status not in _COMPONENT_STATUSES:
                self.problem(table, component_id, f"status {status!r} is not a component status")
            else:
                events.append(self.event(table, component_id, feature_id, "component_status_changed", self.now,
                                         component_id=component_id,
                                         payload={"status": status, "output": output, "error": error}))
        self.emit(table, component_id, events)

    def _phase_statuses(self) -> None:
        self._statuses("phases", _PHASE_STATUSES, "phase", lambda row: text(row.get("feature_id")))

    def _feature_statuses(self) -> None:
        self._statuses("features", _FEATURE_STATUSES, "feature", lambda row: text(row.get("id")))

    def _statuses(
        self, table: str, allowed: frozenset[str], level: str, stream: Callable[[Row], str | None]
    ) -> None:
        """Statuses the original set by hand or by its unlogged cascade. Completed and
        failed become ``<level>_completed`` / ``<level>_failed``, as evstore's cascade
        logs them; the others ``<level>_status_changed``."""
        for row in self.seed.rows(table):
            row_id, workflow_id, status = text(row.get("id")), stream(row), text(row.get("status"))
            if not row_id or not workflow_id:
                continue
            ours = self.store.reader.fetchvalue(f"SELECT status FROM {table} WHERE id = ?", (row_id,))
            if ours is None or ours == status:
                continue  # a row that could not be created was reported already
            if status not in allowed:
                self.problem(table, row_id, f"status {status!r} is not a {level} status")
                continue
            when = self.now
            if level == "feature" and status == "completed":
                when = self.time(row.get("completed_at"), self.now, table, row_id, "completed_at")
            key = "feature_id" if level == "feature" else "phase_id"
            payload: dict[str, Any] = {key: row_id}
            if status in ("completed", "failed"):
                event_type = f"{level}_{status}"
            else:
                event_type, payload["status"] = f"{level}_status_changed", status
            self.emit(table, row_id, [self.event(table, row_id, workflow_id, event_type, when, payload=payload,
                                                 status=status)])

    def _checkpoints(self) -> None:
        for row in self.seed.rows("checkpoints"):
            source_id = row.get("id")
            workflow_id, step_id = text(row.get("workflow_id")), text(row.get("step_id"))
            context = self.json_column(row, "context_snapshot", dict, {}, "checkpoints", source_id)
            when = self.time(row.get("timestamp"), self.now, "checkpoints", source_id, "timestamp")
            payload = {"git_sha": text(row.get("git_sha")), "context": context,
                       "status": text(row.get("status")) or "active"}
            if not workflow_id:
                self.problem("checkpoints", source_id, "it names no workflow")
                continue
            self.emit("checkpoints", source_id, [self.event(
                "checkpoints", source_id, workflow_id, "checkpoint_created", when, step_id=step_id,
                payload=payload,
            )])

    def _metrics(self) -> None:
        without_workflow = 0
        for row in self.seed.rows("metrics"):
            source_id = row.get("id")
            when = self.time(row.get("timestamp"), self.now, "metrics", source_id, "timestamp")
            workflow_id = text(row.get("workflow_id"))
            if not workflow_id:
                workflow_id, without_workflow = NO_WORKFLOW_STREAM, without_workflow + 1
            success = row.get("success")
            payload = {
                "cli": text(row.get("cli")),
                "task_type": text(row.get("task_type")) or "other",
                "success": bool(success) if success in (0, 1) else success,
                "duration_seconds": _number(row.get("duration_seconds")),
                "retry_count": row.get("retry_count") or 0,
                "token_usage": row.get("token_usage"),
                "error_category": text(row.get("error_category")),
                "model_score": _number(row.get("model_score")),
            }
            self.emit("metrics", source_id, [self.event(
                "metrics", source_id, workflow_id, "metric_recorded", when, role=text(row.get("role")),
                payload=payload,
            )])
        if without_workflow:
            self.report.notes.append(
                f"{without_workflow} metric(s) name no workflow; they are on the stream {NO_WORKFLOW_STREAM!r}"
            )


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _number(value: Any) -> Any:
    # SQLite hands back an integral REAL as an int; the payload models want a float.
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
