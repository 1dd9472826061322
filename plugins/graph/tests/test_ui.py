"""The graph plugin's dashboard: executions, each drawn with node states and loop counters."""

from __future__ import annotations

from typing import Any

import evstore_graph
from evstore import EventStore
from evstore.ui import View, render
from evstore_graph._ui import register_ui

LOOPING = {
    "nodes": [{"id": "build"}, {"id": "review"}, {"id": "ship"}],
    "edges": [
        {"source": "build", "target": "review"},
        {"source": "review", "target": "ship", "condition": {"key": "verdict", "equals": "ok"}},
        {"source": "review", "target": "build", "loop_key": "rework", "max_iterations": 3,
         "condition": {"key": "verdict", "equals": "again"}},
    ],
}


def _contributions() -> dict[str, Any]:
    items: list[Any] = []
    register_ui(items.append)
    return {f"{type(item).__name__}:{item.slug}": item for item in items}


def _run(store: EventStore) -> None:
    engine = evstore_graph.GraphEngine(store)
    engine.save_graph("g", "looping <graph>", LOOPING)
    engine.start_execution("x1", "g", workflow_id="wf-1")
    verdicts = iter(["again", "ok"])
    for _ in range(10):
        claimed = engine.claim_ready_nodes("x1", worker_id="w1")
        if not claimed:
            break
        for node in claimed:
            output = {"verdict": next(verdicts)} if node.node_id == "review" else {}
            engine.complete_node("x1", node.node_id, output, worker_id="w1")


def test_an_execution_drawn_as_a_graph(evstore_store: EventStore) -> None:
    _run(evstore_store)
    html = render(_contributions()["Page:executions"].render(View(evstore_store, {"execution": "x1"})))
    assert html.count('<g class="node tone-ok"') == 3  # every node completed
    assert html.count('class="edge back"') == 1 and "rework x1/3 · verdict = again" in html
    assert "verdict = ok" in html and "rework x1" in html and "tone-ok" in html


def test_the_list_and_the_workflow_panel(evstore_store: EventStore) -> None:
    _run(evstore_store)
    listing = render(_contributions()["Page:executions"].render(View(evstore_store, path="/p/graph/executions")))
    assert "execution=x1" in listing and "g v1" in listing
    panel = _contributions()["Panel:executions"]
    assert "x1" in render(panel.render(View(evstore_store, workflow_id="wf-1")))
    assert 'class="diagram"' in render(panel.render(View(evstore_store, workflow_id="execution:x1")))
    assert panel.render(View(evstore_store, workflow_id="wf-2")) is None
    missing = render(_contributions()["Page:executions"].render(View(evstore_store, {"execution": "nope"})))
    assert "No execution" in missing
