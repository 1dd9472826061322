"""Directed graphs (graph executions, pipelines) drawn as SVG, left to right.

Nodes are placed in layers by their longest path from a source; edges marked ``back``
(loops), and any edge that would close a cycle, are drawn as arcs underneath instead of
shaping the layers, so a loop is visible as a loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ._components import status_tone
from ._html import Node, tag

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 160, 60, 100, 28, 20


@dataclass(frozen=True)
class DiagramNode:
    """A box: ``label`` on top, ``status`` (coloured like every status) and ``detail`` below."""

    id: str
    label: str
    status: str | None = None
    detail: str | None = None
    href: str | None = None


@dataclass(frozen=True)
class DiagramEdge:
    """An arrow; ``back=True`` for an edge that loops back (drawn as an arc below)."""

    source: str
    target: str
    label: str | None = None
    back: bool = False


def graph_diagram(nodes: Sequence[DiagramNode], edges: Sequence[DiagramEdge], *, title: str = "graph") -> Node:
    """The SVG of a graph. Edges naming an unknown node are left out."""
    known = {node.id for node in nodes}
    usable = [e for e in edges if e.source in known and e.target in known]
    back = _back_edges(nodes, usable)
    layers = _layers(nodes, [e for e in usable if e not in back and e.source != e.target])
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(layers[node.id], []).append(node.id)
    tallest = max((len(c) for c in columns.values()), default=1)
    place: dict[str, tuple[float, float]] = {}
    for layer, ids in columns.items():
        offset = (tallest - len(ids)) * (_BOX_H + _GAP_Y) / 2
        for row, node_id in enumerate(ids):
            place[node_id] = (_MARGIN + layer * (_BOX_W + _GAP_X), _MARGIN + offset + row * (_BOX_H + _GAP_Y))
    width = _MARGIN * 2 + max(len(columns), 1) * (_BOX_W + _GAP_X) - _GAP_X
    body_height = _MARGIN * 2 + tallest * (_BOX_H + _GAP_Y) - _GAP_Y
    arcs = sum(1 for e in usable if e in back or e.source == e.target)
    height = body_height + (40 + 18 * arcs if arcs else 0)
    marker = "arrow-" + hashlib.sha1("|".join(n.id for n in nodes).encode()).hexdigest()[:8]
    drawn_edges = []
    depth = 0
    for edge in usable:
        looping = edge in back or edge.source == edge.target
        if looping:
            depth += 1
        drawn_edges.append(_edge(edge, place, marker, body_height + 18 * depth if looping else None))
    boxes = [_box(node, place[node.id]) for node in nodes]
    defs = tag("defs", tag(
        "marker", tag("path", d="M0,0 L10,5 L0,10 z", class_="arrow-head"),
        id=marker, attrs={"viewBox": "0 0 10 10", "refX": 10, "refY": 5, "markerWidth": 8, "markerHeight": 8,
                          "orient": "auto-start-reverse"},
    ))
    return tag("svg", tag("title", title), defs, drawn_edges, boxes,
               attrs={"viewBox": f"0 0 {width:.0f} {height:.0f}", "width": f"{width:.0f}", "role": "img",
                      "class": "diagram"})


def _back_edges(nodes: Sequence[DiagramNode], edges: Sequence[DiagramEdge]) -> set[DiagramEdge]:
    """Edges marked back, plus those a depth-first walk finds closing a cycle."""
    back = {e for e in edges if e.back}
    outgoing: dict[str, list[DiagramEdge]] = {}
    for edge in edges:
        if edge not in back:
            outgoing.setdefault(edge.source, []).append(edge)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in (n.id for n in nodes):
        if start in state:
            continue
        stack = [(start, iter(outgoing.get(start, ())))]
        state[start] = 1
        while stack:
            node_id, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node_id] = 2
                stack.pop()
            elif state.get(step.target) == 1:
                back.add(step)
            elif step.target not in state:
                state[step.target] = 1
                stack.append((step.target, iter(outgoing.get(step.target, ()))))
    return back


def _layers(nodes: Sequence[DiagramNode], forward: Sequence[DiagramEdge]) -> dict[str, int]:
    """Longest path from a source, over an acyclic edge set (Kahn's order)."""
    incoming = {n.id: 0 for n in nodes}
    outgoing: dict[str, list[str]] = {}
    for edge in forward:
        incoming[edge.target] += 1
        outgoing.setdefault(edge.source, []).append(edge.target)
    layer = {n.id: 0 for n in nodes}
    ready = [n.id for n in nodes if incoming[n.id] == 0]
    while ready:
        node_id = ready.pop(0)
        for target in outgoing.get(node_id, ()):
            layer[target] = max(layer[target], layer[node_id] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return layer


def _box(node: DiagramNode, at: tuple[float, float]) -> Node:
    x, y = at
    tone = status_tone(node.status)
    lines = [tag("text", _clip(node.label, 20), x=f"{x + _BOX_W / 2:.0f}", y=f"{y + 19:.0f}", class_="node-label",
                 text_anchor="middle")]
    for offset, text, css in ((36, node.status, "node-sub"), (51, node.detail, "node-sub")):
        if text:
            lines.append(tag("text", _clip(text, 24), x=f"{x + _BOX_W / 2:.0f}", y=f"{y + offset:.0f}", class_=css,
                             text_anchor="middle"))
    sub = " · ".join(part for part in (node.status, node.detail) if part)
    tip = f"{node.label}" + (f" — {sub}" if sub else "")
    group = tag("g", tag("title", tip),
                tag("rect", x=f"{x:.0f}", y=f"{y:.0f}", width=_BOX_W, height=_BOX_H, rx=8, class_="node-box"),
                lines, class_=f"node tone-{tone}", data_node=node.id)
    return tag("a", group, href=node.href) if node.href else group


def _edge(edge: DiagramEdge, place: dict[str, tuple[float, float]], marker: str, arc_y: float | None) -> Node:
    sx, sy = place[edge.source]
    tx, ty = place[edge.target]
    if arc_y is None:
        x1, y1, x2, y2 = sx + _BOX_W, sy + _BOX_H / 2, tx, ty + _BOX_H / 2
        bend = max((x2 - x1) / 2, 20)
        path = f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        mid = ((x1 + x2) / 2, (y1 + y2) / 2 - 6)
        css = "edge"
    else:
        x1, y1 = sx + _BOX_W / 2 + 10, sy + _BOX_H
        x2, y2 = tx + _BOX_W / 2 - 10, ty + _BOX_H
        path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{arc_y:.0f} {x2:.0f},{arc_y:.0f} {x2:.0f},{y2:.0f}"
        mid = ((x1 + x2) / 2, arc_y - 4)
        css = "edge back"
    label = (
        tag("text", edge.label, x=f"{mid[0]:.0f}", y=f"{mid[1]:.0f}", class_="edge-label", text_anchor="middle")
        if edge.label else None
    )
    return tag("g", tag("path", d=path, class_=css, attrs={"marker-end": f"url(#{marker})"}), label,
               data_edge=f"{edge.source}->{edge.target}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
