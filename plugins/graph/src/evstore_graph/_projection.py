"""The ``graph`` projection: the original's graph tables, derived from events only.

Every value comes from the event: times from ``event.timestamp_text``, ids from the
stream name, the payload or the event's position (``execution_events.id``). The one
id the projection counts, ``node_executions.id`` (the largest plus one, as SQLite's
rowid would be), is still reproducible: node rows are only ever inserted (never
deleted), all by ``execution_started``, in definition order, so a rebuild replaying
the same events into an empty table assigns the same ids.

The projection is strict: a handler that finds the transition illegal raises, and the
whole append is rejected. The log therefore only ever holds valid histories, whoever
appended them, and a rebuild cannot fail where the live append succeeded.

Every event on an ``execution:<id>`` stream adds one ``execution_events`` row:

- ``id``: the event's position; ``timestamp``: the event's; ``payload``: its payload JSON.
- node events (``node_*``): ``node_id``/``node_type`` of the node, ``status`` its new
  status, ``version`` its new version.
- ``loop_iterated``: the loop's source node, ``status`` pending, its new version (every
  reset node's version is bumped too).
- execution events (``execution_*``): no node, ``status`` the execution's new status,
  ``version`` 0.
- ``execution_event_recorded``: exactly the fields it carries (``payload`` its inner
  payload, ``{}`` if none), ``event_type`` the recorded type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evstore import Migration, Projection, RecordedEvent, ScopedConnection, encode_json

from ._batch import apply_batch
from ._errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    InvalidStreamError,
    InvalidTransitionError,
    NodeNotFoundError,
)
from ._events import (
    EXECUTION_STREAM_PREFIX,
    EXECUTION_TRANSITIONS,
    GRAPH_STREAM_PREFIX,
    NODE_EVENT_EXECUTION_STATUSES,
    NODE_TRANSITIONS,
)

TABLES = ("graph_workflows", "graph_executions", "node_executions", "execution_events", "loop_counters")

_SCHEMA = """
CREATE TABLE graph_workflows (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE graph_executions (
    id TEXT PRIMARY KEY,
    workflow_id TEXT,
    graph_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    error TEXT,
    graph_version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    max_parallel INTEGER NOT NULL,
    input_data TEXT,
    stream_version INTEGER NOT NULL
);
CREATE INDEX graph_executions_by_workflow ON graph_executions (workflow_id);
CREATE TABLE node_executions (
    id INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    node_type TEXT NOT NULL,
    status TEXT NOT NULL,
    input_data TEXT,
    output_data TEXT,
    error TEXT,
    version INTEGER NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    claimed_by TEXT,
    claimed_at TEXT,
    UNIQUE (execution_id, node_id)
);
CREATE INDEX node_executions_by_status ON node_executions (execution_id, status);
CREATE TABLE execution_events (
    id INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    node_id TEXT,
    node_type TEXT,
    event_type TEXT NOT NULL,
    status TEXT,
    payload TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    timestamp TEXT NOT NULL
);
CREATE INDEX execution_events_by_execution ON execution_events (execution_id, id);
CREATE TABLE loop_counters (
    execution_id TEXT NOT NULL,
    loop_key TEXT NOT NULL,
    iteration_count INTEGER NOT NULL,
    PRIMARY KEY (execution_id, loop_key)
);
"""

# Version 2 drops ``graph_executions.stream_version``. Every execution event rewrote the
# execution's row (definition included) just to keep it current; the version is now read
# from the log when a query needs it (``_queries``). The version bump makes the kernel
# rebuild the projection (drop its tables, run every migration, replay the log), so this
# runs on an empty table, and it needs no ALTER TABLE ... DROP COLUMN (SQLite 3.35+).
_WITHOUT_STREAM_VERSION = """
DROP TABLE graph_executions;
CREATE TABLE graph_executions (
    id TEXT PRIMARY KEY,
    workflow_id TEXT,
    graph_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    error TEXT,
    graph_version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    max_parallel INTEGER NOT NULL,
    input_data TEXT
);
CREATE INDEX graph_executions_by_workflow ON graph_executions (workflow_id);
"""

PROJECTION_NAME = "graph"

_Handler = Callable[[ScopedConnection, RecordedEvent], None]
_HANDLERS: dict[str, _Handler] = {}


def _on(*event_types: str) -> Callable[[_Handler], _Handler]:
    """Collects the handlers; each store's projection gets them in build_projection."""

    def collect(handler: _Handler) -> _Handler:
        _HANDLERS.update(dict.fromkeys(event_types, handler))
        return handler

    return collect


def build_projection() -> Projection:
    """A projection of its own for each store that opens, as every plugin builds one:
    nothing a store does to it (or a test kit's wrapped handlers) reaches another."""
    return Projection(
        PROJECTION_NAME,
        # 3: JSON columns written by evstore.encode_json, the kernel's own encoder (a tiny
        # float is 1e-7 there, 1e-07 before): the bump rebuilds old rows to match.
        version=3,
        tables=TABLES,
        migrations=[
            Migration("0001_graph_tables", _SCHEMA),
            Migration("0002_graph_executions_without_stream_version", _WITHOUT_STREAM_VERSION),
        ],
        strict=True,
        description="graph definitions, executions, node states, loop counters, execution events",
        handlers=dict(_HANDLERS),
        # Replays apply a batch at once, with the same rows (``_batch``).
        batch_handler=apply_batch,
    )


def _json(value: Any) -> str | None:
    # The decoded payload's dicts keep the stored key order, so this text is the same on
    # every replay.
    return None if value is None else encode_json(value)


def _stream_id(event: RecordedEvent, prefix: str) -> str:
    stream = event.workflow_id
    if not stream.startswith(prefix) or len(stream) == len(prefix):
        raise InvalidStreamError(
            f"{event.event_type!r} events belong on the stream '{prefix}<id>', but this one "
            f"was appended to workflow_id {stream!r}; append it to '{prefix}<id>'"
        )
    return stream[len(prefix):]


def _in(statuses: frozenset[str]) -> str:
    """A literal SQL list of statuses. They come from this plugin's transition tables,
    never from an event."""
    return "(" + ", ".join(f"'{status}'" for status in sorted(statuses)) + ")"


def _execution(
    db: ScopedConnection, event: RecordedEvent, execution_id: str, accepted: frozenset[str]
) -> Any:
    row = db.fetchone(
        "SELECT status, max_parallel FROM graph_executions WHERE id = ?", (execution_id,)
    )
    if row is None:
        raise ExecutionNotFoundError(
            f"{event.event_type!r} names execution {execution_id!r}, which was never started; "
            "append execution_started first"
        )
    if row[0] not in accepted:
        raise InvalidTransitionError(
            f"{event.event_type!r} is not accepted by execution {execution_id!r} while it is "
            f"{row[0]} (accepted while {' or '.join(sorted(accepted))})"
        )
    return row


def _record(
    db: ScopedConnection,
    event: RecordedEvent,
    execution_id: str,
    *,
    node_id: str | None = None,
    node_type: str | None = None,
    status: str | None = None,
    version: int = 0,
    event_type: str | None = None,
    payload: str | None = None,
) -> None:
    """The event's ``execution_events`` row."""
    db.execute(
        "INSERT INTO execution_events (id, execution_id, node_id, node_type, event_type, status, "
        "payload, version, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.id, execution_id, node_id, node_type, event_type or event.event_type, status,
            event.payload_json if payload is None else payload, version, event.timestamp_text,
        ),
    )


_BINDABLE = (str, int, float, bytes, type(None))


def _bindable(values: Sequence[Any]) -> bool:
    """Whether every value is one both backends bind (checked before the statement, not
    by catching the driver's error: that error is each driver's own, and on PostgreSQL a
    failed statement leaves nothing more to read in the transaction)."""
    return all(isinstance(value, _BINDABLE) for value in values)


class _ExecutionTransition:
    """What an execution event does to the execution's row: ``EXECUTION_TRANSITIONS``,
    plus ``assignments`` (a fixed SQL fragment such as ``", error = ?"``). One UPDATE,
    guarded by the current status, checks and writes, instead of a read, then a write.
    When it changes no row, ``_execution`` says why and raises, and the handler's error
    rolls back all it wrote."""

    __slots__ = ("accepted", "new_status", "sql")

    def __init__(self, event_type: str, assignments: str = "") -> None:
        self.accepted, self.new_status = EXECUTION_TRANSITIONS[event_type]
        # The new status is a parameter, as the values of ``assignments`` are: a value
        # SQLite cannot bind is reported with the same parameter number as ever.
        self.sql = (
            f"UPDATE graph_executions SET status = ?{assignments} "
            f"WHERE id = ? AND status IN {_in(self.accepted)}"
        )

    def apply(self, db: ScopedConnection, event: RecordedEvent, values: Sequence[Any] = ()) -> None:
        execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
        if not _bindable(values):
            # A value no backend can store (only in a log written without validation): an
            # illegal transition is still reported as such, before the driver refuses it.
            _execution(db, event, execution_id, self.accepted)
        changed = db.execute(self.sql, (self.new_status, *values, execution_id)).rowcount
        if not changed:
            _execution(db, event, execution_id, self.accepted)
            raise AssertionError("unreachable: the execution accepts the event")  # pragma: no cover
        _record(db, event, execution_id, status=self.new_status)


@_on("graph_saved")
def _graph_saved(db: ScopedConnection, event: RecordedEvent) -> None:
    graph_id = _stream_id(event, GRAPH_STREAM_PREFIX)
    payload = event.payload
    db.execute(
        "INSERT INTO graph_workflows (id, name, definition, version, created_at, updated_at) "
        "VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "definition = excluded.definition, version = graph_workflows.version + 1, "
        "updated_at = excluded.updated_at",
        (graph_id, payload["name"], _json(payload["definition"]), event.timestamp_text,
         event.timestamp_text),
    )


@_on("execution_started")
def _execution_started(db: ScopedConnection, event: RecordedEvent) -> None:
    execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
    status = db.fetchvalue("SELECT status FROM graph_executions WHERE id = ?", (execution_id,))
    if status is not None:
        raise ExecutionExistsError(
            f"execution {execution_id!r} was already started (it is {status}); start a new "
            "execution under a new id"
        )
    payload = event.payload
    definition = payload["definition"]
    db.execute(
        "INSERT INTO graph_executions (id, workflow_id, graph_id, status, started_at, graph_version, "
        "definition, max_parallel, input_data) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
        (
            execution_id, payload.get("workflow_id"), payload["graph_id"], event.timestamp_text,
            payload["graph_version"], _json(definition), payload["max_parallel"],
            _json(payload.get("input")),
        ),
    )
    # The ids SQLite's INTEGER PRIMARY KEY would assign (the largest plus one, in
    # definition order), given explicitly: PostgreSQL assigns none.
    last = db.fetchvalue("SELECT COALESCE(MAX(id), 0) FROM node_executions")
    db.executemany(
        "INSERT INTO node_executions (id, execution_id, node_id, node_type, status, version) "
        "VALUES (?, ?, ?, ?, 'pending', 0)",
        [
            (last + number, execution_id, node["id"], node.get("type", "task"))
            for number, node in enumerate(definition["nodes"], start=1)
        ],
    )
    _record(db, event, execution_id, status="running")


class _NodeTransition:
    """What a node event does, in two statements whose SQL is built once: the node's
    move, guarded by the node's status, the execution's status and, for a claim, the
    execution's ``max_parallel``; and the ``execution_events`` row, copied from the node
    as moved. A legal transition, the usual case, needs no separate read; when a guard
    stops the move, ``_check`` finds the reason and raises."""

    __slots__ = ("accepted", "allowed_from", "claim", "move", "new_status")

    _LIMIT = (
        " AND (SELECT COUNT(*) FROM node_executions WHERE execution_id = ? AND status = 'running')"
        " < (SELECT max_parallel FROM graph_executions WHERE id = ?)"
    )
    _RECORD = (
        "INSERT INTO execution_events (id, execution_id, node_id, node_type, event_type, status, "
        "payload, version, timestamp) SELECT ?, execution_id, node_id, node_type, ?, status, ?, "
        "version, ? FROM node_executions WHERE execution_id = ? AND node_id = ?"
    )

    def __init__(self, event_type: str, assignments: str = "") -> None:
        self.allowed_from, self.new_status = NODE_TRANSITIONS[event_type]
        self.accepted = NODE_EVENT_EXECUTION_STATUSES[event_type]
        self.claim = event_type == "node_claimed"
        # The new status is a parameter, as the values of ``assignments`` are: a value
        # SQLite cannot bind is reported with the same parameter number as ever.
        self.move = (
            f"UPDATE node_executions SET status = ?, version = version + 1{assignments} "
            f"WHERE execution_id = ? AND node_id = ? AND status IN {_in(self.allowed_from)} "
            "AND EXISTS (SELECT 1 FROM graph_executions WHERE id = ? "
            f"AND status IN {_in(self.accepted)})"
        ) + (self._LIMIT if self.claim else "")

    def apply(self, db: ScopedConnection, event: RecordedEvent, values: Sequence[Any] = ()) -> None:
        """Move the event's node, bump its version and set the columns of ``assignments``
        (a fixed SQL fragment such as ``", output_data = ?"``) to ``values``."""
        execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
        node_id = event.payload.get("node_id")
        if not isinstance(node_id, str):
            # Only in a log written without validation: reported as it always was (the
            # execution first, then a missing, unknown or unbindable node id).
            _execution(db, event, execution_id, self.accepted)
            node_id = event.payload["node_id"]
            _node(db, event, execution_id, node_id)
        guards = (execution_id, execution_id, execution_id) if self.claim else (execution_id,)
        if not _bindable(values):  # see _ExecutionTransition.apply
            self._check(db, event, execution_id, node_id)
        moved = db.execute(
            self.move, (self.new_status, *values, execution_id, node_id, *guards)
        ).rowcount
        if not moved:
            self._check(db, event, execution_id, node_id)
            raise AssertionError("unreachable: the node accepts the event")  # pragma: no cover
        db.execute(
            self._RECORD,
            (event.id, event.event_type, event.payload_json, event.timestamp_text, execution_id, node_id),
        )

    def _check(self, db: ScopedConnection, event: RecordedEvent, execution_id: str, node_id: str) -> None:
        """Raise why the execution or the node refuses the event, if one does."""
        max_parallel = _execution(db, event, execution_id, self.accepted)[1]
        status = _node(db, event, execution_id, node_id)[0]
        if status not in self.allowed_from:
            raise InvalidTransitionError(
                f"{event.event_type!r}: node {node_id!r} of execution {execution_id!r} is {status}, "
                f"but this transition needs it {' or '.join(sorted(self.allowed_from))}"
            )
        if not self.claim:
            return
        running = db.fetchvalue(
            "SELECT COUNT(*) FROM node_executions WHERE execution_id = ? AND status = 'running'",
            (execution_id,),
        )
        if running >= max_parallel:
            raise InvalidTransitionError(
                f"node_claimed: execution {execution_id!r} already runs {running} nodes, its "
                f"max_parallel; claim again once one finishes"
            )


def _node(db: ScopedConnection, event: RecordedEvent, execution_id: str, node_id: str) -> Any:
    row = db.fetchone(
        "SELECT status, node_type, version FROM node_executions WHERE execution_id = ? AND node_id = ?",
        (execution_id, node_id),
    )
    if row is None:
        raise NodeNotFoundError(
            f"{event.event_type!r} names node {node_id!r}, which execution {execution_id!r}'s "
            "graph does not have"
        )
    return row


_NODE_READY = _NodeTransition("node_ready", ", input_data = ?")
_NODE_CLAIMED = _NodeTransition("node_claimed", ", started_at = ?, claimed_by = ?, claimed_at = ?")
_NODE_COMPLETED = _NodeTransition("node_completed", ", output_data = ?, completed_at = ?")
_NODE_FAILED = _NodeTransition("node_failed", ", error = ?, completed_at = ?")
_NODE_SKIPPED = _NodeTransition("node_skipped", ", completed_at = ?")
_NODE_RECLAIMED = _NodeTransition(
    "node_reclaimed", ", started_at = NULL, claimed_by = NULL, claimed_at = NULL"
)


@_on("node_ready")
def _node_ready(db: ScopedConnection, event: RecordedEvent) -> None:
    _NODE_READY.apply(db, event, (_json(event.payload.get("input")),))


@_on("node_claimed")
def _node_claimed(db: ScopedConnection, event: RecordedEvent) -> None:
    at = event.timestamp_text
    _NODE_CLAIMED.apply(db, event, (at, event.payload["worker_id"], at))


@_on("node_completed")
def _node_completed(db: ScopedConnection, event: RecordedEvent) -> None:
    _NODE_COMPLETED.apply(db, event, (_json(event.payload.get("output")), event.timestamp_text))


@_on("node_failed")
def _node_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    _NODE_FAILED.apply(db, event, (event.payload["error"], event.timestamp_text))


@_on("node_skipped")
def _node_skipped(db: ScopedConnection, event: RecordedEvent) -> None:
    _NODE_SKIPPED.apply(db, event, (event.timestamp_text,))


@_on("node_reclaimed")
def _node_reclaimed(db: ScopedConnection, event: RecordedEvent) -> None:
    _NODE_RECLAIMED.apply(db, event)


@_on("loop_iterated")
def _loop_iterated(db: ScopedConnection, event: RecordedEvent) -> None:
    execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
    _execution(db, event, execution_id, NODE_EVENT_EXECUTION_STATUSES["loop_iterated"])
    payload = event.payload
    loop_key, iteration = payload["loop_key"], payload["iteration"]
    counted = db.fetchvalue(
        "SELECT iteration_count FROM loop_counters WHERE execution_id = ? AND loop_key = ?",
        (execution_id, loop_key),
    ) or 0
    if iteration != counted + 1:
        raise InvalidTransitionError(
            f"loop_iterated: loop {loop_key!r} of execution {execution_id!r} has run {counted} "
            f"times, so the next iteration is {counted + 1}, not {iteration}"
        )
    reset: list[str] = payload["reset_nodes"]
    source = payload["node_id"]
    _check_resettable(db, event, execution_id, [source, payload["target_node_id"], *reset], reset)
    source_type, source_version = _node(db, event, execution_id, source)[1:]
    db.executemany(
        "UPDATE node_executions SET status = 'pending', version = version + 1, input_data = NULL, "
        "output_data = NULL, error = NULL, started_at = NULL, completed_at = NULL, "
        "claimed_by = NULL, claimed_at = NULL WHERE execution_id = ? AND node_id = ?",
        [(execution_id, node_id) for node_id in reset],
    )
    db.execute(
        "INSERT INTO loop_counters (execution_id, loop_key, iteration_count) VALUES (?, ?, ?) "
        "ON CONFLICT (execution_id, loop_key) DO UPDATE SET iteration_count = excluded.iteration_count",
        (execution_id, loop_key, iteration),
    )
    _record(db, event, execution_id, node_id=source, node_type=source_type, status="pending",
            version=source_version + 1)


def _check_resettable(
    db: ScopedConnection, event: RecordedEvent, execution_id: str, named: list[str], reset: list[str]
) -> None:
    statuses = {
        node_id: _node(db, event, execution_id, node_id)[0] for node_id in dict.fromkeys(named)
    }
    if len(set(reset)) != len(reset) or any(n not in reset for n in named[:2]):
        raise InvalidTransitionError(
            f"loop_iterated: reset_nodes {reset} must list each node once and include the loop's "
            f"source {named[0]!r} and target {named[1]!r}"
        )
    running = [node_id for node_id in reset if statuses[node_id] == "running"]
    if running:
        raise InvalidTransitionError(
            f"loop_iterated would reset nodes {running} of execution {execution_id!r} while they "
            "are running; their workers must finish first"
        )


_EXECUTION_ENDED = {
    name: _ExecutionTransition(name, ", completed_at = ?") for name in ("execution_completed", "execution_cancelled")
}
_EXECUTION_FAILED = _ExecutionTransition("execution_failed", ", completed_at = ?, error = ?")
_EXECUTION_PAUSED_OR_RESUMED = {
    name: _ExecutionTransition(name) for name in ("execution_interrupted", "execution_resumed")
}


@_on("execution_completed", "execution_cancelled")
def _execution_ended(db: ScopedConnection, event: RecordedEvent) -> None:
    _EXECUTION_ENDED[event.event_type].apply(db, event, (event.timestamp_text,))


@_on("execution_failed")
def _execution_failed(db: ScopedConnection, event: RecordedEvent) -> None:
    _EXECUTION_FAILED.apply(db, event, (event.timestamp_text, event.payload["error"]))


@_on("execution_interrupted", "execution_resumed")
def _execution_paused_or_resumed(db: ScopedConnection, event: RecordedEvent) -> None:
    _EXECUTION_PAUSED_OR_RESUMED[event.event_type].apply(db, event)


@_on("execution_event_recorded")
def _execution_event_recorded(db: ScopedConnection, event: RecordedEvent) -> None:
    execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
    payload: Mapping[str, Any] = event.payload
    _record(
        db, event, execution_id,
        node_id=payload.get("node_id"), node_type=payload.get("node_type"),
        status=payload.get("status"), version=payload.get("version", 0),
        event_type=payload["event_type"], payload=_json(payload.get("payload") or {}),
    )
