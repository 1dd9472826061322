"""The graph projection's batch handler: what replays (rebuild, catch-up, workers) run
instead of the per-event handlers of ``_projection``, with the same rows.

One event at a time, a node event is a guarded UPDATE and an INSERT ... SELECT of its
``execution_events`` row. Here a batch reads the executions, nodes and loop counters
its events name once, checks and applies every transition in memory, in position order,
and then writes each new row once and each changed row once: a node that becomes ready,
is claimed and completes within the batch is one INSERT. ``execution_events`` rows and
``graph_saved`` upserts, one per event, are written as the per-event handlers write
them (one executemany each).

The projection is strict, so a stored history is one the per-event handlers accepted;
this handler does not explain refusals, it raises on anything it cannot vouch for (an
illegal transition, an id that is not text, a value not every backend stores as given),
and the kernel then applies the batch again through the per-event handlers, which
decide exactly and say why. Writing only a row's last state skips the values it held in
between, which the per-event statements would have bound; checking every value taken
from a payload (``_text``) keeps a value a backend refuses from vanishing with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from evstore import RecordedEvent, ScopedConnection, encode_json, in_list

from ._events import (
    EXECUTION_STREAM_PREFIX,
    EXECUTION_TRANSITIONS,
    GRAPH_STREAM_PREFIX,
    NODE_EVENT_EXECUTION_STATUSES,
    NODE_TRANSITIONS,
)

Row = list[Any]

# node_executions, in column order (what the batch holds of a node).
_NODE_COLUMNS = (
    "id", "execution_id", "node_id", "node_type", "status", "input_data", "output_data", "error", "version",
    "started_at", "completed_at", "claimed_by", "claimed_at",
)
_N_ID, _N_NODE, _N_TYPE, _N_STATUS, _N_INPUT, _N_OUTPUT, _N_ERROR, _N_VERSION = 0, 2, 3, 4, 5, 6, 7, 8
_N_STARTED, _N_COMPLETED, _N_CLAIMED_BY, _N_CLAIMED_AT = 9, 10, 11, 12
_NODE_MUTABLE = tuple(range(_N_STATUS, len(_NODE_COLUMNS)))
_NODE_INSERT = f"INSERT INTO node_executions ({', '.join(_NODE_COLUMNS)}) VALUES ({', '.join('?' * 13)})"
_NODE_UPDATE = (
    f"UPDATE node_executions SET {', '.join(f'{_NODE_COLUMNS[i]} = ?' for i in _NODE_MUTABLE)} WHERE id = ?"
)

# graph_executions, in column order; of an execution read from the table the batch
# holds only what transitions check and change (the other places stay None).
_EXECUTION_COLUMNS = (
    "id", "workflow_id", "graph_id", "status", "started_at", "completed_at", "error", "graph_version",
    "definition", "max_parallel", "input_data",
)
_E_STATUS, _E_COMPLETED, _E_ERROR, _E_MAX_PARALLEL = 3, 5, 6, 9
_EXECUTION_INSERT = (
    f"INSERT INTO graph_executions ({', '.join(_EXECUTION_COLUMNS)}) VALUES ({', '.join('?' * 11)})"
)
_EXECUTION_UPDATE = "UPDATE graph_executions SET status = ?, completed_at = ?, error = ? WHERE id = ?"

_GRAPH_UPSERT = (  # _projection's graph_saved, statement for statement
    "INSERT INTO graph_workflows (id, name, definition, version, created_at, updated_at) "
    "VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
    "definition = excluded.definition, version = graph_workflows.version + 1, "
    "updated_at = excluded.updated_at"
)
_RECORD = (
    "INSERT INTO execution_events (id, execution_id, node_id, node_type, event_type, status, payload, "
    "version, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LOOP_UPSERT = (
    "INSERT INTO loop_counters (execution_id, loop_key, iteration_count) VALUES (?, ?, ?) "
    "ON CONFLICT (execution_id, loop_key) DO UPDATE SET iteration_count = excluded.iteration_count"
)

# Execution ids per IN (...) read: far below every backend's limit on parameters.
_READ_CHUNK = 512
# SQLite's INTEGER (PostgreSQL's is BIGINT: the kernel maps the type to the same range).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class _Unusual(Exception):
    """This batch holds an event the in-memory rules do not vouch for: the kernel applies
    it again event by event, where the per-event handler decides (internal)."""


def _text(value: Any) -> Any:
    """``value`` if it is ``None`` or text every backend stores as given. (The kernel
    refuses NUL in payloads it appends; raw SQL may still have stored one.)"""
    if value is None or (type(value) is str and "\x00" not in value):
        return value
    raise _Unusual(f"{value!r} is not text every backend stores")


def _key(value: Any) -> str:
    """An id the batch looks rows up by: text, as every id the projection stores."""
    if type(value) is str and "\x00" not in value:
        return value
    raise _Unusual(f"id {value!r} is not text")


def _json(value: Any) -> str | None:
    return None if value is None else encode_json(value)


def _stream_id(event: RecordedEvent, prefix: str) -> str:
    stream = event.workflow_id
    if not stream.startswith(prefix) or len(stream) == len(prefix):
        raise _Unusual(f"stream {stream!r} is not {prefix}<id>")
    return stream[len(prefix):]


class _Batch:
    """The graph tables as one batch of events leaves them."""

    def __init__(self, db: ScopedConnection) -> None:
        self.db = db
        self.graphs: list[tuple[Any, ...]] = []  # graph_workflows upserts, in order
        # execution id -> its row (None: not in the table, nor started by the batch)
        self.executions: dict[str, Row | None] = {}
        self.new_executions: dict[str, Row] = {}
        self.changed_executions: dict[str, Row] = {}
        self.nodes: dict[str, dict[str, Row]] = {}  # execution id -> node id -> row
        self.new_nodes: dict[int, Row] = {}  # by node_executions.id, in creation order
        self.changed_nodes: dict[int, Row] = {}  # by node_executions.id
        self.records: list[tuple[Any, ...]] = []  # execution_events rows, in order
        self.loops: dict[tuple[str, str], int] = {}  # (execution, loop key) -> iterations
        self.loop_writes: dict[tuple[str, str], int] = {}
        self.next_node_id: int | None = None

    # --- reading ----------------------------------------------------------------------------

    def read(self, execution_ids: Iterable[str], *, loops: bool) -> None:
        """Read the executions ``execution_ids``, their nodes and (with ``loops``) their
        loop counters, where not read yet."""
        wanted = [key for key in dict.fromkeys(execution_ids) if key not in self.executions]
        for start in range(0, len(wanted), _READ_CHUNK):
            marks, chunk = in_list(wanted[start:start + _READ_CHUNK])
            for execution_id, status, max_parallel, completed_at, error in self.db.fetchall(
                "SELECT id, status, max_parallel, completed_at, error FROM graph_executions WHERE id IN " + marks,
                chunk,
            ):
                row: Row = [None] * len(_EXECUTION_COLUMNS)
                row[0], row[_E_STATUS], row[_E_MAX_PARALLEL] = execution_id, status, max_parallel
                row[_E_COMPLETED], row[_E_ERROR] = completed_at, error
                self.executions[execution_id] = row
            for node in self.db.fetchall(
                f"SELECT {', '.join(_NODE_COLUMNS)} FROM node_executions WHERE execution_id IN " + marks, chunk
            ):
                self.nodes.setdefault(node[1], {})[node[_N_NODE]] = list(node)
            if loops:
                for execution_id, loop_key, count in self.db.fetchall(
                    "SELECT execution_id, loop_key, iteration_count FROM loop_counters WHERE execution_id IN "
                    + marks, chunk,
                ):
                    self.loops[(execution_id, loop_key)] = count
        for key in wanted:
            self.executions.setdefault(key, None)

    def execution(self, event: RecordedEvent, accepted: frozenset[str]) -> tuple[str, Row]:
        """The event's execution, which must be in one of the ``accepted`` statuses."""
        execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
        if execution_id not in self.executions:
            self.read((execution_id,), loops=True)
        row = self.executions[execution_id]
        if row is None or row[_E_STATUS] not in accepted:
            raise _Unusual(f"{event.event_type} on execution {execution_id!r} as it stands")
        return execution_id, row

    def node(self, execution_id: str, node_id: Any) -> Row:
        node = self.nodes.get(execution_id, {}).get(_key(node_id))
        if node is None:
            raise _Unusual(f"no node {node_id!r} in execution {execution_id!r}")
        return node

    def node_changed(self, node: Row) -> None:
        if node[_N_ID] not in self.new_nodes:  # a new node is inserted as it ends up
            self.changed_nodes[node[_N_ID]] = node

    def record(self, event: RecordedEvent, execution_id: str, node_id: Any, node_type: Any, status: Any,
               version: Any) -> None:
        self.records.append((
            event.id, execution_id, node_id, node_type, event.event_type, status, event.payload_json, version,
            event.timestamp_text,
        ))

    def write(self) -> None:
        db = self.db
        if self.graphs:
            db.executemany(_GRAPH_UPSERT, self.graphs)
        # New and changed rows are different rows, so the order of the two statements
        # does not matter; new rows keep their creation order.
        if self.new_executions:
            db.executemany(_EXECUTION_INSERT, [tuple(row) for row in self.new_executions.values()])
        if self.changed_executions:
            db.executemany(_EXECUTION_UPDATE, [
                (row[_E_STATUS], row[_E_COMPLETED], row[_E_ERROR], row[0]) for row in self.changed_executions.values()
            ])
        if self.new_nodes:
            db.executemany(_NODE_INSERT, [tuple(node) for node in self.new_nodes.values()])
        if self.changed_nodes:
            db.executemany(_NODE_UPDATE, [
                (*(node[i] for i in _NODE_MUTABLE), node[_N_ID]) for node in self.changed_nodes.values()
            ])
        if self.records:
            db.executemany(_RECORD, self.records)
        if self.loop_writes:
            db.executemany(_LOOP_UPSERT, [(*key, count) for key, count in self.loop_writes.items()])

    # --- the events (``_projection``'s handlers) ---------------------------------------------

    def graph_saved(self, event: RecordedEvent) -> None:
        graph_id = _stream_id(event, GRAPH_STREAM_PREFIX)
        payload = event.payload
        # One upsert per event, as the per-event handler runs it: the version counts them.
        self.graphs.append(
            (graph_id, payload["name"], _json(payload["definition"]), event.timestamp_text, event.timestamp_text)
        )

    def execution_started(self, event: RecordedEvent) -> None:
        execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
        if execution_id not in self.executions:
            self.read((execution_id,), loops=False)
        if self.executions[execution_id] is not None or self.nodes.get(execution_id):
            raise _Unusual(f"execution {execution_id!r} was already started")
        payload = event.payload
        definition, max_parallel = payload["definition"], payload["max_parallel"]
        if type(max_parallel) is not int:  # claims compare it in memory
            raise _Unusual(f"max_parallel {max_parallel!r} is not an integer")
        row = [
            execution_id, payload.get("workflow_id"), payload["graph_id"], "running", event.timestamp_text, None,
            None, payload["graph_version"], _json(definition), max_parallel, _json(payload.get("input")),
        ]
        self.executions[execution_id] = self.new_executions[execution_id] = row
        if self.next_node_id is None:
            # The ids SQLite's INTEGER PRIMARY KEY would assign, as the per-event handler
            # gives them: the largest plus one, in definition order.
            self.next_node_id = self.db.fetchone("SELECT COALESCE(MAX(id), 0) FROM node_executions")[0] + 1
        nodes: dict[str, Row] = {}
        for spec in definition["nodes"]:
            node_id, node_type = _key(spec["id"]), _text(spec.get("type", "task"))
            if node_id in nodes or node_type is None:
                raise _Unusual(f"node {node_id!r} twice, or without a type")
            assert self.next_node_id is not None
            node = [self.next_node_id, execution_id, node_id, node_type, "pending", None, None, None, 0,
                    None, None, None, None]
            self.next_node_id += 1
            nodes[node_id] = node
            self.new_nodes[node[_N_ID]] = node
        self.nodes[execution_id] = nodes
        self.record(event, execution_id, None, None, "running", 0)

    def node_event(self, event: RecordedEvent) -> None:
        allowed_from, new_status = NODE_TRANSITIONS[event.event_type]
        execution_id, execution = self.execution(event, NODE_EVENT_EXECUTION_STATUSES[event.event_type])
        payload = event.payload
        node = self.node(execution_id, payload.get("node_id"))
        if node[_N_STATUS] not in allowed_from:
            raise _Unusual(f"{event.event_type} while the node is {node[_N_STATUS]}")
        if event.event_type == "node_claimed":
            running = sum(1 for other in self.nodes[execution_id].values() if other[_N_STATUS] == "running")
            if not running < execution[_E_MAX_PARALLEL]:
                raise _Unusual("claim beyond max_parallel")
        _NODE_ASSIGNMENTS[event.event_type](node, event)
        node[_N_STATUS] = new_status
        node[_N_VERSION] += 1
        self.node_changed(node)
        self.record(event, execution_id, node[_N_NODE], node[_N_TYPE], new_status, node[_N_VERSION])

    def loop_iterated(self, event: RecordedEvent) -> None:
        execution_id, _execution = self.execution(event, NODE_EVENT_EXECUTION_STATUSES["loop_iterated"])
        payload = event.payload
        loop_key, iteration = _key(payload["loop_key"]), payload["iteration"]
        if type(iteration) is not int or not _INT_MIN <= iteration <= _INT_MAX:
            raise _Unusual(f"iteration {iteration!r}")
        if iteration != (self.loops.get((execution_id, loop_key)) or 0) + 1:
            raise _Unusual("not the loop's next iteration")
        reset, source, target = payload["reset_nodes"], payload["node_id"], payload["target_node_id"]
        if type(reset) is not list or len(set(reset)) != len(reset) or source not in reset or target not in reset:
            raise _Unusual("reset_nodes must list each node once, the loop's source and target among them")
        nodes = [self.node(execution_id, node_id) for node_id in dict.fromkeys([source, target, *reset])]
        if any(node[_N_STATUS] == "running" for node in nodes):
            raise _Unusual("a reset node is running")
        source_node = self.node(execution_id, source)
        source_type, source_version = source_node[_N_TYPE], source_node[_N_VERSION]
        for node_id in reset:
            node = self.node(execution_id, node_id)
            node[_N_STATUS] = "pending"
            node[_N_VERSION] += 1
            node[_N_INPUT:_N_ERROR + 1] = [None, None, None]
            node[_N_STARTED:] = [None, None, None, None]
            self.node_changed(node)
        self.loops[(execution_id, loop_key)] = self.loop_writes[(execution_id, loop_key)] = iteration
        self.record(event, execution_id, source, source_type, "pending", source_version + 1)

    def execution_event(self, event: RecordedEvent) -> None:
        accepted, new_status = EXECUTION_TRANSITIONS[event.event_type]
        execution_id, execution = self.execution(event, accepted)
        if event.event_type in ("execution_completed", "execution_cancelled", "execution_failed"):
            execution[_E_COMPLETED] = event.timestamp_text
        if event.event_type == "execution_failed":
            execution[_E_ERROR] = _text(event.payload["error"])
        execution[_E_STATUS] = new_status
        if execution_id not in self.new_executions:
            self.changed_executions[execution_id] = execution
        self.record(event, execution_id, None, None, new_status, 0)

    def execution_event_recorded(self, event: RecordedEvent) -> None:
        execution_id = _stream_id(event, EXECUTION_STREAM_PREFIX)
        payload = event.payload
        self.records.append((
            event.id, execution_id, payload.get("node_id"), payload.get("node_type"),
            payload["event_type"] or event.event_type, payload.get("status"), _json(payload.get("payload") or {}),
            payload.get("version", 0), event.timestamp_text,
        ))


def _ready(node: Row, event: RecordedEvent) -> None:
    node[_N_INPUT] = _json(event.payload.get("input"))


def _claimed(node: Row, event: RecordedEvent) -> None:
    at = event.timestamp_text
    node[_N_STARTED], node[_N_CLAIMED_BY], node[_N_CLAIMED_AT] = at, _text(event.payload["worker_id"]), at


def _completed(node: Row, event: RecordedEvent) -> None:
    node[_N_OUTPUT], node[_N_COMPLETED] = _json(event.payload.get("output")), event.timestamp_text


def _failed(node: Row, event: RecordedEvent) -> None:
    node[_N_ERROR], node[_N_COMPLETED] = _text(event.payload["error"]), event.timestamp_text


def _skipped(node: Row, event: RecordedEvent) -> None:
    node[_N_COMPLETED] = event.timestamp_text


def _reclaimed(node: Row, event: RecordedEvent) -> None:
    node[_N_STARTED], node[_N_CLAIMED_BY], node[_N_CLAIMED_AT] = None, None, None


_NODE_ASSIGNMENTS: dict[str, Callable[[Row, RecordedEvent], None]] = {
    "node_ready": _ready,
    "node_claimed": _claimed,
    "node_completed": _completed,
    "node_failed": _failed,
    "node_skipped": _skipped,
    "node_reclaimed": _reclaimed,
}


def apply_batch(db: ScopedConnection, events: Sequence[RecordedEvent]) -> None:
    """The ``on_batch`` handler: ``events`` applied as the per-event handlers would apply
    them one after another (``_Unusual`` when that cannot be vouched for)."""
    batch = _Batch(db)
    prefix = EXECUTION_STREAM_PREFIX
    batch.read(
        (event.workflow_id[len(prefix):] for event in events if event.workflow_id.startswith(prefix)),
        loops=any(event.event_type == "loop_iterated" for event in events),
    )
    for event in events:
        _APPLY[event.event_type](batch, event)
    batch.write()


_APPLY: dict[str, Callable[[_Batch, RecordedEvent], None]] = {
    "graph_saved": _Batch.graph_saved,
    "execution_started": _Batch.execution_started,
    **dict.fromkeys(NODE_TRANSITIONS, _Batch.node_event),
    "loop_iterated": _Batch.loop_iterated,
    **dict.fromkeys(EXECUTION_TRANSITIONS, _Batch.execution_event),
    "execution_event_recorded": _Batch.execution_event_recorded,
}
