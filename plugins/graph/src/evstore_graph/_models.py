"""Graph definitions: nodes, edges with conditions, loop edges, entry nodes.

The format, as JSON::

    {
      "nodes": [{"id": "plan", "type": "llm", "config": {...}, "join": "all"}, ...],
      "edges": [
        {"source": "plan", "target": "code"},                          # on success
        {"source": "test", "target": "fix", "condition": "failure"},
        {"source": "review", "target": "merge",
         "condition": {"key": "verdict", "equals": "approve"}},
        {"source": "review", "target": "code", "loop_key": "review-loop",
         "max_iterations": 3, "condition": {"key": "verdict", "equals": "rework"}}
      ],
      "entry_nodes": ["plan"]                                          # optional
    }

Edge conditions are evaluated against the source node once it finished:

- ``"success"`` (the default): the source completed.
- ``"failure"``: the source failed.
- ``"always"``: the source completed or failed.
- ``{"key": k, "equals": v}``: the source completed and its output has ``output[k] == v``.

A skipped source satisfies no condition, so a skip propagates downstream.

Forward edges (no ``loop_key``) must form a DAG. A node becomes ready once every forward
predecessor has finished and its incoming edges hold: all of them (``join="all"``, the
default) or at least one (``join="any"``, for joining the branches of an if/else). If
they do not hold, the node is skipped.

A loop edge (``loop_key`` and ``max_iterations`` set) goes back from ``source`` to an
earlier ``target`` (or to ``source`` itself: a retry). When the source finishes and the
condition holds and the loop ran fewer than ``max_iterations`` times, the loop is taken:
the loop body (every node on a forward path from target to source) is reset to pending,
the iteration is counted, and the target becomes ready again. Otherwise the source's
forward edges are followed as usual.

Entry nodes default to the nodes without incoming forward edges. An explicit list must
still cover every such node, since nothing else could ever make them ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NodeStatus = Literal["pending", "ready", "running", "completed", "failed", "skipped"]
ExecutionStatus = Literal["running", "completed", "failed", "cancelled", "interrupted"]

# The statuses in which a node has finished, for the purpose of deciding its dependents.
FINISHED: frozenset[str] = frozenset({"completed", "failed", "skipped"})


class OutputMatch(BaseModel):
    """Holds when the source completed with ``output[key] == equals``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1)
    equals: Any = None


Condition = Literal["success", "failure", "always"] | OutputMatch


class NodeSpec(BaseModel):
    """One node. ``config`` is free-form data for the worker that runs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(default="task", min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    join: Literal["all", "any"] = "all"


class EdgeSpec(BaseModel):
    """A forward edge, or a loop edge when ``loop_key`` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    condition: Condition = "success"
    loop_key: str | None = Field(default=None, min_length=1)
    max_iterations: int | None = Field(default=None, ge=1)

    @property
    def is_loop(self) -> bool:
        return self.loop_key is not None

    def holds(self, status: str, output: Mapping[str, Any] | None) -> bool:
        """Whether this edge fires for a source that finished with ``status``/``output``."""
        condition = self.condition
        if condition == "success":
            return status == "completed"
        if condition == "failure":
            return status == "failed"
        if condition == "always":
            return status in ("completed", "failed")
        assert isinstance(condition, OutputMatch)
        return (
            status == "completed"
            and output is not None
            and condition.key in output
            and output[condition.key] == condition.equals
        )


class GraphDefinition(BaseModel):
    """A validated graph; see the module docstring for the format and semantics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)
    entry_nodes: list[str] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> GraphDefinition:
        self.shape()  # raises ValueError, which pydantic reports as a validation error
        return self

    def shape(self) -> GraphShape:
        """The adjacency (entry nodes, edges by node, loop bodies) of this definition,
        built once: the model is frozen, so it stays right for the model's lifetime."""
        return self._adjacency

    @cached_property
    def _adjacency(self) -> GraphShape:
        # A cached_property, not a private attribute: pydantic's == compares private
        # attributes, and two equal definitions have two distinct GraphShape objects.
        return GraphShape(self)


class GraphShape:
    """Adjacency of a definition, with the checks that need it; built once per
    validated definition (linear in its size)."""

    def __init__(self, definition: GraphDefinition) -> None:
        self.definition = definition
        self.nodes: dict[str, NodeSpec] = {}
        for node in definition.nodes:
            if node.id in self.nodes:
                raise ValueError(f"node id {node.id!r} is used twice; node ids must be unique")
            self.nodes[node.id] = node
        self.incoming: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in self.nodes}
        self.outgoing: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in self.nodes}
        self.loops_from: dict[str, list[EdgeSpec]] = {node_id: [] for node_id in self.nodes}
        self._add_edges(definition.edges)
        self._check_acyclic()
        for edges in self.loops_from.values():
            for edge in edges:
                if not self.loop_body(edge):
                    raise ValueError(
                        f"loop edge {edge.source!r} -> {edge.target!r} ({edge.loop_key!r}) must go "
                        f"back to {edge.source!r} itself or to a node with a forward path to it"
                    )
        self.entry_nodes = self._entry_nodes(definition.entry_nodes)

    def _add_edges(self, edges: list[EdgeSpec]) -> None:
        seen: set[tuple[str, str]] = set()
        loop_keys: set[str] = set()
        for edge in edges:
            for end in (edge.source, edge.target):
                if end not in self.nodes:
                    raise ValueError(
                        f"edge {edge.source!r} -> {edge.target!r} names unknown node {end!r}"
                    )
            if edge.is_loop:
                if edge.max_iterations is None:
                    raise ValueError(f"loop edge {edge.loop_key!r} needs max_iterations (>= 1)")
                if edge.loop_key in loop_keys:
                    raise ValueError(f"loop_key {edge.loop_key!r} is used by two edges")
                loop_keys.add(str(edge.loop_key))
                self.loops_from[edge.source].append(edge)
                continue
            if edge.max_iterations is not None:
                raise ValueError(
                    f"edge {edge.source!r} -> {edge.target!r} has max_iterations but no loop_key"
                )
            if (edge.source, edge.target) in seen:
                raise ValueError(f"edge {edge.source!r} -> {edge.target!r} is declared twice")
            seen.add((edge.source, edge.target))
            self.outgoing[edge.source].append(edge)
            self.incoming[edge.target].append(edge)

    def _check_acyclic(self) -> None:
        # Kahn's algorithm: whatever is never freed sits on a cycle.
        waiting = {node_id: len(edges) for node_id, edges in self.incoming.items()}
        free = [node_id for node_id, count in waiting.items() if count == 0]
        while free:
            for edge in self.outgoing[free.pop()]:
                waiting[edge.target] -= 1
                if waiting[edge.target] == 0:
                    free.append(edge.target)
        cyclic = sorted(node_id for node_id, count in waiting.items() if count > 0)
        if cyclic:
            raise ValueError(
                f"the forward edges form a cycle through {cyclic}; go back with a loop edge "
                "(loop_key and max_iterations) instead"
            )

    def _entry_nodes(self, explicit: list[str] | None) -> list[str]:
        roots = [node_id for node_id, edges in self.incoming.items() if not edges]
        if explicit is None:
            return roots
        if not explicit:
            raise ValueError("entry_nodes is empty; leave it out to start at the root nodes")
        unknown = [node_id for node_id in explicit if node_id not in self.nodes]
        if unknown:
            raise ValueError(f"entry_nodes names unknown nodes {unknown}")
        if len(set(explicit)) != len(explicit):
            raise ValueError("entry_nodes lists a node twice")
        stranded = [node_id for node_id in roots if node_id not in explicit]
        if stranded:
            raise ValueError(
                f"nodes {stranded} have no incoming edges and are not entry nodes, so they "
                "could never run; add them to entry_nodes or give them an incoming edge"
            )
        return list(explicit)

    def reachable(self, start: str, *, forwards: bool) -> set[str]:
        """``start`` and every node reachable from it along forward edges (or against them)."""
        found = {start}
        frontier = [start]
        while frontier:
            node_id = frontier.pop()
            edges = self.outgoing[node_id] if forwards else self.incoming[node_id]
            for edge in edges:
                other = edge.target if forwards else edge.source
                if other not in found:
                    found.add(other)
                    frontier.append(other)
        return found

    def loop_body(self, edge: EdgeSpec) -> list[str]:
        """The nodes a loop edge resets: those on a forward path from its target to its
        source, both included, in definition order; empty if there is no such path."""
        body = self.reachable(edge.target, forwards=True) & self.reachable(edge.source, forwards=False)
        return [node_id for node_id in self.nodes if node_id in body]

    def loop_edge(self, loop_key: str) -> EdgeSpec | None:
        for edges in self.loops_from.values():
            for edge in edges:
                if edge.loop_key == loop_key:
                    return edge
        return None
