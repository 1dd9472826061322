"""The original's graph tables, as evstore-graph events.

The original kept graph executions as mutable rows (defect 12). evstore-graph derives
the same tables from events, so each row becomes the events that lead to it:

- ``graph_workflows`` row → ``graph_saved`` on ``graph:<id>`` (its definition must be
  a valid ``GraphDefinition``, else the graph and its executions are not carried over);
- ``execution_events`` rows → ``execution_event_recorded``, in id order, first: they
  are the execution's history as the UI saw it, and keep their times;
- ``graph_executions`` row → ``execution_started`` (with the graph's definition: the
  original did not snapshot it) at ``started_at``; then per ``loop_counters`` row, that
  many ``loop_iterated`` (while every node is still pending, so resetting is harmless);
  then per ``node_executions`` row the transitions from pending to its status
  (``node_ready``, ``node_claimed`` by worker ``seed-import``, ``node_completed`` /
  ``node_failed``; or ``node_skipped``); then the execution's end, if it ended.

The reconstruction adds its own ``execution_events`` rows after the original's ones
(every event of an execution stream has one). Node versions count these transitions,
not the original's. A failure rolls back that one execution and is reported.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import pydantic

import evstore_graph
from evstore import NewEvent

from ._seed_reader import Row, text

if TYPE_CHECKING:
    from ._seed_import import SeedImporter

WORKER: Final = "seed-import"
_NODE_STATUSES: Final = frozenset({"pending", "ready", "running", "completed", "failed", "skipped"})
_ENDINGS: Final = {
    "completed": "execution_completed",
    "failed": "execution_failed",
    "cancelled": "execution_cancelled",
    "interrupted": "execution_interrupted",
}


def import_graph(importer: SeedImporter) -> None:
    graphs = _graphs(importer)
    _execution_events(importer)
    nodes: dict[str, list[Row]] = defaultdict(list)
    for row in importer.seed.rows("node_executions"):
        nodes[text(row.get("execution_id")) or ""].append(row)
    loops: dict[str, list[Row]] = defaultdict(list)
    for row in importer.seed.rows("loop_counters"):
        loops[text(row.get("execution_id")) or ""].append(row)
    known: set[str] = set()
    for row in importer.seed.rows("graph_executions"):
        execution_id = text(row.get("id"))
        if not execution_id:
            continue
        known.add(execution_id)
        graph_id = text(row.get("graph_id")) or ""
        definition = graphs.get(graph_id)
        if definition is None:
            importer.problem("graph_executions", execution_id,
                             f"its graph {graph_id!r} was not carried over, so neither are its node states")
            continue
        _execution(importer, row, execution_id, graph_id, definition, nodes[execution_id], loops[execution_id])
    for table, grouped in (("node_executions", nodes), ("loop_counters", loops)):
        for execution_id in sorted(set(grouped) - known):
            importer.problem(table, execution_id, f"{len(grouped[execution_id])} row(s) reference unknown "
                                                  f"execution {execution_id!r}")


def _graphs(importer: SeedImporter) -> dict[str, evstore_graph.GraphDefinition]:
    carried: dict[str, evstore_graph.GraphDefinition] = {}
    for row in importer.seed.rows("graph_workflows"):
        graph_id = text(row.get("id"))
        if not graph_id:
            continue
        definition = importer.json_column(row, "definition", dict, None, "graph_workflows", graph_id)
        if definition is None:
            continue
        try:
            validated = evstore_graph.GraphDefinition.model_validate(definition)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'definition'}: {e['msg']}" for e in error.errors()[:3]
            )
            importer.problem("graph_workflows", graph_id, f"its definition does not fit evstore-graph: {problems}")
            continue
        when = importer.time(row.get("updated_at") or row.get("created_at"), importer.now, "graph_workflows",
                             graph_id, "updated_at")
        name = text(row.get("name")) or graph_id
        saved = importer.event("graph_workflows", graph_id, evstore_graph.graph_stream(graph_id), "graph_saved",
                               when, payload={"name": name, "definition": validated})
        if importer.emit("graph_workflows", graph_id, [saved]):
            carried[graph_id] = validated
    return carried


def _execution_events(importer: SeedImporter) -> None:
    for row in importer.seed.rows("execution_events"):
        source_id = row.get("id")
        execution_id = text(row.get("execution_id"))
        if not execution_id:
            importer.problem("execution_events", source_id, "it names no execution")
            continue
        when = importer.time(row.get("timestamp"), importer.now, "execution_events", source_id, "timestamp")
        payload = importer.json_column(row, "payload", dict, None, "execution_events", source_id)
        recorded = {
            "event_type": text(row.get("event_type")), "node_id": text(row.get("node_id")),
            "node_type": text(row.get("node_type")), "status": text(row.get("status")),
            "payload": payload, "version": row.get("version") or 0,
        }
        importer.emit("execution_events", source_id, [importer.event(
            "execution_events", source_id, evstore_graph.execution_stream(execution_id),
            "execution_event_recorded", when, payload=recorded,
        )])


def _execution(
    importer: SeedImporter, row: Row, execution_id: str, graph_id: str,
    definition: evstore_graph.GraphDefinition, nodes: list[Row], loops: list[Row],
) -> None:
    table, stream = "graph_executions", evstore_graph.execution_stream(execution_id)
    started = importer.time(row.get("started_at"), importer.now, table, execution_id, "started_at")
    shape = definition.shape()
    running = sum(1 for node in nodes if text(node.get("status")) == "running")
    graph_version = importer.store.reader.fetchvalue(
        "SELECT version FROM graph_workflows WHERE id = ?", (graph_id,)
    )
    events = [importer.event(table, execution_id, stream, "execution_started", started, payload={
        "graph_id": graph_id, "graph_version": graph_version or 1, "workflow_id": text(row.get("workflow_id")),
        "definition": definition, "max_parallel": max(evstore_graph.DEFAULT_MAX_PARALLEL, running),
    })]
    for loop in loops:
        loop_key, count = text(loop.get("loop_key")) or "", loop.get("iteration_count") or 0
        edge = shape.loop_edge(loop_key)
        if edge is None or not isinstance(count, int) or count < 0:
            importer.problem("loop_counters", f"{execution_id}/{loop_key}",
                             f"the graph has no loop {loop_key!r}" if edge is None else f"count {count!r}")
            continue
        body = shape.loop_body(edge)
        events += [
            importer.event("loop_counters", f"{execution_id}/{loop_key}", stream, "loop_iterated", started, payload={
                "node_id": edge.source, "target_node_id": edge.target, "loop_key": loop_key,
                "iteration": iteration, "reset_nodes": body,
            })
            for iteration in range(1, count + 1)
        ]
    for node in nodes:
        node_id = text(node.get("node_id")) or ""
        if node_id not in shape.nodes:
            importer.problem("node_executions", f"{execution_id}/{node_id}",
                             f"graph {graph_id!r} has no node {node_id!r}")
            continue
        events += _node_events(importer, stream, execution_id, node_id, node, started)
    status = text(row.get("status"))
    ending = _ENDINGS.get(status or "")
    if ending is not None:
        ended = importer.time(row.get("completed_at"), importer.now, table, execution_id, "completed_at")
        payload: dict[str, Any] = {}
        if status == "failed":
            payload["error"] = text(row.get("error")) or "failed (no error recorded)"
        events.append(importer.event(table, execution_id, stream, ending, ended, payload=payload))
    elif status != "running":
        importer.problem(table, execution_id, f"status {status!r} is not an execution status; left running")
    importer.emit(table, execution_id, events, counted="graph_executions")


def _node_events(
    importer: SeedImporter, stream: str, execution_id: str, node_id: str, node: Row, started: datetime,
) -> list[NewEvent]:
    table, key = "node_executions", f"{execution_id}/{node_id}"
    status = text(node.get("status"))
    if status not in _NODE_STATUSES:
        importer.problem(table, key, f"status {status!r} is not a node status; left pending")
        return []
    began = importer.time(node.get("started_at"), started, table, key, "started_at")
    ended = importer.time(node.get("completed_at"), began, table, key, "completed_at")

    def event(event_type: str, when: datetime, **payload: Any) -> NewEvent:
        return importer.event(table, key, stream, event_type, when, payload={"node_id": node_id, **payload})

    if status == "pending":
        return []
    if status == "skipped":
        return [event("node_skipped", ended)]
    events = [event("node_ready", began, input=importer.json_column(node, "input_data", dict, None, table, key))]
    if status == "ready":
        return events
    events.append(event("node_claimed", began, worker_id=WORKER))
    if status == "completed":
        output = importer.json_column(node, "output_data", dict, None, table, key)
        events.append(event("node_completed", ended, output=output))
    elif status == "failed":
        events.append(event("node_failed", ended, error=text(node.get("error")) or "failed (no error recorded)"))
    return events
