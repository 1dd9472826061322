"""evstore-graph: event-sourced graph executions.

Replaces the original supervisor's mutable graph tables (``graph_workflows``,
``graph_executions``, ``node_executions``, ``execution_events``, ``loop_counters``) with
a projection of events, and adds a command API, :class:`GraphEngine`, whose commands are
race-free across processes (optimistic concurrency on each execution's stream)::

    from evstore import EventStore
    import evstore_graph

    store = EventStore.open("state.db", plugins=[evstore_graph], autoload=False)
    engine = evstore_graph.GraphEngine(store)
    engine.save_graph("g", "build", {"nodes": [{"id": "a"}, {"id": "b"}],
                                     "edges": [{"source": "a", "target": "b"}]})
    engine.start_execution("x1", "g")
    for node in engine.claim_ready_nodes("x1", worker_id="w1"):
        engine.complete_node("x1", node.node_id, {"ok": True}, worker_id="w1")

Event types (payload models in ``PAYLOADS``): ``graph_saved`` on stream ``graph:<id>``;
``execution_started``, ``node_ready``, ``node_claimed``, ``node_completed``,
``node_failed``, ``node_skipped``, ``node_reclaimed``, ``loop_iterated``,
``execution_completed``, ``execution_failed``, ``execution_cancelled``,
``execution_interrupted``, ``execution_resumed`` and ``execution_event_recorded`` on
stream ``execution:<id>``. The definition format and its semantics are described in
:class:`GraphDefinition`'s module, ``evstore_graph._models``.
"""

from __future__ import annotations

from evstore import Plugin

from ._engine import DEFAULT_MAX_PARALLEL, GraphEngine, append_execution_event
from ._errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    GraphDefinitionError,
    GraphError,
    GraphNotFoundError,
    InvalidStreamError,
    InvalidTransitionError,
    NodeNotFoundError,
)
from ._events import EVENT_TYPES, PAYLOADS, execution_stream, graph_stream
from ._models import EdgeSpec, GraphDefinition, NodeSpec, OutputMatch
from ._planner import ClaimedNode
from ._projection import TABLES, build_projection
from ._queries import (
    GraphExecution,
    GraphWorkflow,
    NodeExecution,
    get_execution,
    get_execution_events,
    get_graph,
    get_loop_count,
    get_node,
    list_executions,
    list_nodes,
)
from ._ui import register_ui

# What this plugin contributes; the plugin manager generates the hooks from it.
evstore_plugin = Plugin(
    "graph",
    event_types=EVENT_TYPES,
    projections=[build_projection],
    ui=register_ui,
)

__all__ = [
    "DEFAULT_MAX_PARALLEL",
    "EVENT_TYPES",
    "PAYLOADS",
    "TABLES",
    "ClaimedNode",
    "EdgeSpec",
    "ExecutionExistsError",
    "ExecutionNotFoundError",
    "GraphDefinition",
    "GraphDefinitionError",
    "GraphEngine",
    "GraphError",
    "GraphExecution",
    "GraphNotFoundError",
    "GraphWorkflow",
    "InvalidStreamError",
    "InvalidTransitionError",
    "NodeExecution",
    "NodeNotFoundError",
    "NodeSpec",
    "OutputMatch",
    "append_execution_event",
    "execution_stream",
    "get_execution",
    "get_execution_events",
    "get_graph",
    "get_loop_count",
    "get_node",
    "graph_stream",
    "list_executions",
    "list_nodes",
]
