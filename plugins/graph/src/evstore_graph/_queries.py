"""Reading the graph tables: typed rows, and the consistent state the engine decides on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from evstore import EventStore, InvalidArgumentError, require_projection

from ._errors import ExecutionNotFoundError, GraphNotFoundError, NodeNotFoundError
from ._models import ExecutionStatus, GraphDefinition, NodeStatus
from ._projection import PROJECTION_NAME


class GraphWorkflow(BaseModel):
    """A row of ``graph_workflows``: the latest saved version of a graph."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    definition: GraphDefinition
    version: int
    created_at: datetime
    updated_at: datetime


class GraphExecution(BaseModel):
    """A row of ``graph_executions``. ``version`` is the execution stream's version."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str | None
    graph_id: str
    status: ExecutionStatus
    started_at: datetime
    completed_at: datetime | None
    error: str | None
    graph_version: int
    definition: GraphDefinition
    max_parallel: int
    input_data: dict[str, Any] | None
    version: int


class NodeExecution(BaseModel):
    """A row of ``node_executions``."""

    model_config = ConfigDict(frozen=True)

    id: int
    execution_id: str
    node_id: str
    node_type: str
    status: NodeStatus
    input_data: dict[str, Any] | None
    output_data: dict[str, Any] | None
    error: str | None
    version: int
    started_at: datetime | None
    completed_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None


# The execution stream's version as the projection has applied it: the version of the
# stream's last event with an ``execution_events`` row (every graph event on the stream
# has one). Reading it with the rows it explains keeps the engine's optimistic check
# sound: if the projection is behind the log, the append with this version fails.
_STREAM_VERSION = (
    "(SELECT e.version FROM events e WHERE e.id = (SELECT MAX(x.id) FROM execution_events x "
    "WHERE x.execution_id = graph_executions.id))"
)
_EXECUTION_COLUMNS = (
    "id, workflow_id, graph_id, status, started_at, completed_at, error, graph_version, "
    f"definition, max_parallel, input_data, {_STREAM_VERSION}"
)
_NODE_COLUMNS = (
    "id, execution_id, node_id, node_type, status, input_data, output_data, error, version, "
    "started_at, completed_at, claimed_by, claimed_at"
)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _execution(row: Any) -> GraphExecution:
    return GraphExecution(
        id=row[0], workflow_id=row[1], graph_id=row[2], status=row[3], started_at=row[4],
        completed_at=row[5], error=row[6], graph_version=row[7],
        definition=GraphDefinition.model_validate_json(row[8]), max_parallel=row[9],
        input_data=_loads(row[10]), version=row[11],
    )


def _node(row: Any) -> NodeExecution:
    return NodeExecution(
        id=row[0], execution_id=row[1], node_id=row[2], node_type=row[3], status=row[4],
        input_data=_loads(row[5]), output_data=_loads(row[6]), error=row[7], version=row[8],
        started_at=row[9], completed_at=row[10], claimed_by=row[11], claimed_at=row[12],
    )


def get_graph(store: EventStore, graph_id: str) -> GraphWorkflow | None:
    """The latest saved version of a graph, or ``None``."""
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    row = store.reader.fetchone(
        "SELECT id, name, definition, version, created_at, updated_at FROM graph_workflows "
        "WHERE id = ?",
        (graph_id,),
    )
    if row is None:
        return None
    return GraphWorkflow(
        id=row[0], name=row[1], definition=GraphDefinition.model_validate_json(row[2]),
        version=row[3], created_at=row[4], updated_at=row[5],
    )


def require_graph(store: EventStore, graph_id: str) -> GraphWorkflow:
    graph = get_graph(store, graph_id)
    if graph is None:
        raise GraphNotFoundError(f"no graph {graph_id!r} was saved; save it with save_graph first")
    return graph


def get_execution(store: EventStore, execution_id: str) -> GraphExecution | None:
    """An execution, or ``None`` if it was never started."""
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    row = store.reader.fetchone(
        f"SELECT {_EXECUTION_COLUMNS} FROM graph_executions WHERE id = ?", (execution_id,)
    )
    return None if row is None else _execution(row)


def list_executions(
    store: EventStore, *, workflow_id: str | None = None, status: str | None = None
) -> list[GraphExecution]:
    """Executions, optionally of one workflow and/or in one status, by start time."""
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    clauses, params = ["1 = 1"], []
    if workflow_id is not None:
        clauses.append("workflow_id = ?")
        params.append(workflow_id)
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    rows = store.reader.fetchall(
        f"SELECT {_EXECUTION_COLUMNS} FROM graph_executions WHERE {' AND '.join(clauses)} "
        "ORDER BY started_at, id",
        params,
    )
    return [_execution(row) for row in rows]


def require_execution(store: EventStore, execution_id: str) -> GraphExecution:
    execution = get_execution(store, execution_id)
    if execution is None:
        raise ExecutionNotFoundError(
            f"no execution {execution_id!r} was started; start it with start_execution first"
        )
    return execution


def get_node(store: EventStore, execution_id: str, node_id: str) -> NodeExecution | None:
    """One node of an execution, or ``None``."""
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    row = store.reader.fetchone(
        f"SELECT {_NODE_COLUMNS} FROM node_executions WHERE execution_id = ? AND node_id = ?",
        (execution_id, node_id),
    )
    return None if row is None else _node(row)


def require_node(store: EventStore, execution_id: str, node_id: str) -> NodeExecution:
    node = get_node(store, execution_id, node_id)
    if node is None:
        raise NodeNotFoundError(f"execution {execution_id!r} has no node {node_id!r}")
    return node


def list_nodes(
    store: EventStore, execution_id: str, status: str | None = None
) -> list[NodeExecution]:
    """The nodes of an execution in definition order, optionally only those in ``status``."""
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    if status is None:
        rows = store.reader.fetchall(
            f"SELECT {_NODE_COLUMNS} FROM node_executions WHERE execution_id = ? ORDER BY id",
            (execution_id,),
        )
    else:
        rows = store.reader.fetchall(
            f"SELECT {_NODE_COLUMNS} FROM node_executions WHERE execution_id = ? AND status = ? "
            "ORDER BY id",
            (execution_id, status),
        )
    return [_node(row) for row in rows]


def get_loop_count(store: EventStore, execution_id: str, loop_key: str) -> int:
    """How many times the loop ``loop_key`` was taken in the execution (0 if never)."""
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    value = store.reader.fetchvalue(
        "SELECT iteration_count FROM loop_counters WHERE execution_id = ? AND loop_key = ?",
        (execution_id, loop_key),
    )
    return int(value or 0)


def get_execution_events(
    store: EventStore, execution_id: str, since_id: int | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """The execution's ``execution_events`` rows after ``since_id``, ascending ``id`` (the
    event's global position), at most ``limit``. A UI polls with the last id it saw.

    Keys: ``id, execution_id, node_id, node_type, event_type, status, payload`` (decoded),
    ``version, timestamp``.
    """
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    for name, value in (("since_id", since_id), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidArgumentError(f"{name} must be an int >= 0, got {value!r}")
    rows = store.reader.fetchall(
        "SELECT id, execution_id, node_id, node_type, event_type, status, payload, version, "
        "timestamp FROM execution_events WHERE execution_id = ? AND id > ? ORDER BY id LIMIT ?",
        (execution_id, since_id or 0, limit),
    )
    return [
        {
            "id": row[0], "execution_id": row[1], "node_id": row[2], "node_type": row[3],
            "event_type": row[4], "status": row[5], "payload": _loads(row[6]) or {},
            "version": row[7], "timestamp": row[8],
        }
        for row in rows
    ]


@dataclass
class ExecutionState:
    """What the engine decides on: the execution, its nodes and loop counts, all read
    at or after ``execution.version``. Reading the version first is what makes this
    safe without a read transaction: if anything read later is newer, the append with
    ``expected_version=execution.version`` fails and the engine reads again."""

    execution: GraphExecution
    nodes: dict[str, NodeExecution]
    loop_counts: dict[str, int]


def load_state(store: EventStore, execution_id: str) -> ExecutionState:
    require_projection(store, PROJECTION_NAME, package="evstore_graph")
    execution = require_execution(store, execution_id)
    nodes = {node.node_id: node for node in list_nodes(store, execution_id)}
    loop_counts = {
        str(key): int(count)
        for key, count in store.reader.fetchall(
            "SELECT loop_key, iteration_count FROM loop_counters WHERE execution_id = ?",
            (execution_id,),
        )
    }
    return ExecutionState(execution, nodes, loop_counts)
