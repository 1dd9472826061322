"""What evstore-graph shows in ``evstore ui``: graph executions, and each one drawn as
a graph with its nodes' states, its loops with their counters, and its trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstore.ui import (
    Child,
    DiagramEdge,
    DiagramNode,
    Page,
    Panel,
    View,
    graph_diagram,
    key_values,
    pager,
    status_badge,
    table,
    tag,
)

from ._models import EdgeSpec, OutputMatch
from ._queries import get_execution, get_execution_events, list_nodes

PAGE_SIZE = 50
TRACE = 100


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Page("executions", "Graph executions", executions_page,
                  description="executions with their node states and loop counters"))
    register(Panel("executions", "Graph executions", workflow_executions, on="workflow"))


def executions_page(view: View) -> Child:
    chosen = view.param("execution")
    if chosen is not None:
        return [tag("p", tag("a", "← every execution", href=view.url(execution=None))), execution_view(view, chosen)]
    status = view.param("status")
    before = view.param("before")  # "started_at|id" of the last row shown
    clauses, params = [], []  # type: list[str], list[Any]
    if status:
        clauses.append("status = ?")
        params.append(status)
    if before and "|" in before:
        started, _, execution_id = before.partition("|")
        clauses.append("(started_at < ? OR (started_at = ? AND id < ?))")
        params.extend([started, started, execution_id])
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = view.store.reader.fetchall(
        "SELECT id, graph_id, graph_version, workflow_id, status, started_at, completed_at, error "
        f"FROM graph_executions {where}ORDER BY started_at DESC, id DESC LIMIT ?", [*params, PAGE_SIZE + 1],
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return [
        _table(view, rows),
        pager(view.url(before=None) if before else None,
              view.url(before=f"{rows[-1][5]}|{rows[-1][0]}") if more else None),
    ]


def _table(view: View, rows: list[Any]) -> Child:
    return table(
        ["execution", "graph", "workflow", "status", "started (UTC)", "completed (UTC)", "error"],
        [[tag("a", eid, href=view.page_url("graph", "executions", execution=eid)), f"{graph} v{version}",
          tag("a", wid, href=view.workflow_url(wid)) if wid else "", status_badge(status), _t(started),
          _t(completed), tag("span", error, class_="muted") if error else ""]
         for eid, graph, version, wid, status, started, completed, error in rows],
        empty="No graph executions.",
    )


def workflow_executions(view: View) -> Child:
    if view.workflow_id is None:
        return None
    if view.workflow_id.startswith("execution:"):
        return execution_view(view, view.workflow_id.removeprefix("execution:"))
    rows = view.store.reader.fetchall(
        "SELECT id, graph_id, graph_version, workflow_id, status, started_at, completed_at, error "
        "FROM graph_executions WHERE workflow_id = ? ORDER BY started_at, id", [view.workflow_id],
    )
    return _table(view, rows) if rows else None


def execution_view(view: View, execution_id: str) -> Child:
    execution = get_execution(view.store, execution_id)
    if execution is None:
        return tag("p", f"No execution {execution_id!r}.", class_="empty")
    nodes = {n.node_id: n for n in list_nodes(view.store, execution_id)}
    loops = {
        str(key): int(count) for key, count in view.store.reader.fetchall(
            "SELECT loop_key, iteration_count FROM loop_counters WHERE execution_id = ?", [execution_id])
    }
    definition = execution.definition
    diagram_nodes = [
        DiagramNode(spec.id, spec.id, nodes[spec.id].status if spec.id in nodes else "pending",
                    detail=" ".join(part for part in (spec.type, _worker(nodes.get(spec.id))) if part))
        for spec in definition.nodes
    ]
    edges = [DiagramEdge(e.source, e.target, _edge_label(e, loops), back=e.loop_key is not None)
             for e in definition.edges]
    trace = get_execution_events(view.store, execution_id, limit=TRACE)
    return [
        key_values([
            ("execution", execution.id), ("graph", f"{execution.graph_id} v{execution.graph_version}"),
            ("status", status_badge(execution.status)),
            ("workflow", tag("a", execution.workflow_id, href=view.workflow_url(execution.workflow_id))
             if execution.workflow_id else "—"),
            ("started", _t(execution.started_at.isoformat())),
            ("completed", _t(execution.completed_at.isoformat()) if execution.completed_at else "—"),
            ("loops", ", ".join(f"{k} x{v}" for k, v in sorted(loops.items())) or "none taken"),
            ("error", execution.error or "—"),
        ]),
        graph_diagram(diagram_nodes, edges, title=f"execution {execution.id}"),
        tag("h3", "Nodes"),
        table(["node", "type", "status", "version", "worker", "started (UTC)", "completed (UTC)", "error"],
              [[n.node_id, n.node_type, status_badge(n.status), n.version, n.claimed_by or "",
                _t(n.started_at.isoformat() if n.started_at else None),
                _t(n.completed_at.isoformat() if n.completed_at else None), n.error or ""]
               for n in nodes.values()], numeric=[3]),
        tag("h3", f"Trace (first {TRACE} events)"),
        table(["#", "event", "node", "status", "time (UTC)"],
              [[tag("a", e["id"], href=view.event_url(e["id"])), e["event_type"], e["node_id"] or "",
                status_badge(e["status"]) if e["status"] else "", _t(e["timestamp"])] for e in trace],
              empty="No events recorded."),
    ]


def _edge_label(edge: EdgeSpec, loops: dict[str, int]) -> str | None:
    condition = edge.condition
    text = None
    if isinstance(condition, OutputMatch):
        text = f"{condition.key} = {condition.equals}"
    elif condition != "success":
        text = str(condition)
    if edge.loop_key is not None:
        limit = f"/{edge.max_iterations}" if edge.max_iterations else ""
        loop = f"{edge.loop_key} x{loops.get(edge.loop_key, 0)}{limit}"
        text = f"{loop} · {text}" if text else loop
    return text


def _worker(node: Any) -> str:
    return f"by {node.claimed_by}" if node is not None and node.claimed_by else ""


def _t(stamp: str | None) -> str:
    return (stamp or "").replace("T", " ")[:19]
