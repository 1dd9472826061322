"""Graph definitions: what is accepted, what is refused and why, and edge conditions."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from evstore_graph import EdgeSpec, GraphDefinition, GraphDefinitionError, GraphEngine


def _nodes(*ids: str) -> list[dict[str, Any]]:
    return [{"id": node_id} for node_id in ids]


def test_defaults_fill_in_type_config_join_and_condition() -> None:
    definition = GraphDefinition.model_validate(
        {"nodes": _nodes("a", "b"), "edges": [{"source": "a", "target": "b"}]}
    )
    node = definition.nodes[0]
    assert (node.type, node.config, node.join) == ("task", {}, "all")
    assert definition.edges[0].condition == "success"
    assert definition.shape().entry_nodes == ["a"]
    # Equal definitions compare equal (the cached adjacency does not take part).
    assert definition == GraphDefinition.model_validate_json(definition.model_dump_json())


def test_entry_nodes_default_to_roots_in_definition_order() -> None:
    definition = GraphDefinition.model_validate(
        {"nodes": _nodes("x", "a", "b"), "edges": [{"source": "a", "target": "x"}]}
    )
    assert definition.shape().entry_nodes == ["a", "b"]


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"nodes": []}, "at least 1"),
        ({"nodes": _nodes("a", "a")}, "used twice"),
        ({"nodes": _nodes("a"), "edges": [{"source": "a", "target": "zz"}]}, "unknown node 'zz'"),
        ({"nodes": _nodes("a", "b"), "edges": [{"source": "a", "target": "b"}] * 2}, "declared twice"),
        (
            {"nodes": _nodes("a", "b", "c"), "edges": [
                {"source": "a", "target": "b"}, {"source": "b", "target": "c"},
                {"source": "c", "target": "b"}]},
            "cycle through ['b', 'c']",
        ),
        ({"nodes": _nodes("a"), "edges": [{"source": "a", "target": "a"}]}, "cycle"),
        (
            {"nodes": _nodes("a", "b"), "edges": [{"source": "b", "target": "a", "loop_key": "l"}]},
            "needs max_iterations",
        ),
        (
            {"nodes": _nodes("a", "b"), "edges": [
                {"source": "a", "target": "b", "max_iterations": 2}]},
            "no loop_key",
        ),
        (
            {"nodes": _nodes("a", "b"), "edges": [
                {"source": "a", "target": "b", "loop_key": "l", "max_iterations": 2}]},
            "must go back",
        ),
        (
            {"nodes": _nodes("a", "b"), "edges": [
                {"source": "a", "target": "a", "loop_key": "l", "max_iterations": 2},
                {"source": "b", "target": "b", "loop_key": "l", "max_iterations": 2}]},
            "used by two edges",
        ),
        ({"nodes": _nodes("a", "b"), "entry_nodes": ["a"]}, "could never run"),
        ({"nodes": _nodes("a"), "entry_nodes": ["q"]}, "unknown nodes ['q']"),
        ({"nodes": _nodes("a"), "entry_nodes": []}, "entry_nodes is empty"),
        ({"nodes": _nodes("a"), "colour": "red"}, "Extra inputs"),
        ({"nodes": [{"id": "a", "join": "some"}]}, "join"),
        (
            {"nodes": _nodes("a", "b"), "edges": [
                {"source": "a", "target": "b", "condition": "sometimes"}]},
            "condition",
        ),
    ],
)
def test_malformed_definitions_are_refused_with_the_reason(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        GraphDefinition.model_validate(definition)


def test_save_graph_reports_a_malformed_definition_as_graph_definition_error(engine: GraphEngine) -> None:
    with pytest.raises(GraphDefinitionError, match="unknown node 'zz'") as caught:
        engine.save_graph("g", "bad", {"nodes": _nodes("a"), "edges": [{"source": "a", "target": "zz"}]})
    assert isinstance(caught.value, ValueError)
    assert engine.store.head() == 0


def test_loop_body_is_every_node_between_target_and_source() -> None:
    definition = GraphDefinition.model_validate({
        "nodes": _nodes("start", "t", "left", "right", "s", "side", "after"),
        "edges": [
            {"source": "start", "target": "t"}, {"source": "t", "target": "left"},
            {"source": "t", "target": "right"}, {"source": "left", "target": "s"},
            {"source": "right", "target": "s"}, {"source": "t", "target": "side"},
            {"source": "s", "target": "after"},
            {"source": "s", "target": "t", "loop_key": "again", "max_iterations": 3},
        ],
    })
    shape = definition.shape()
    loop = shape.loop_edge("again")
    assert loop is not None
    assert shape.loop_body(loop) == ["t", "left", "right", "s"]
    assert shape.loop_edge("nope") is None


@pytest.mark.parametrize(
    ("condition", "status", "output", "holds"),
    [
        ("success", "completed", None, True),
        ("success", "failed", None, False),
        ("failure", "failed", None, True),
        ("failure", "completed", None, False),
        ("always", "completed", None, True),
        ("always", "failed", None, True),
        ("always", "skipped", None, False),
        ("success", "skipped", None, False),
        ({"key": "verdict", "equals": "ok"}, "completed", {"verdict": "ok"}, True),
        ({"key": "verdict", "equals": "ok"}, "completed", {"verdict": "no"}, False),
        ({"key": "verdict", "equals": "ok"}, "completed", {}, False),
        ({"key": "verdict", "equals": "ok"}, "completed", None, False),
        ({"key": "verdict", "equals": "ok"}, "failed", {"verdict": "ok"}, False),
        ({"key": "n", "equals": None}, "completed", {"n": None}, True),
    ],
)
def test_edge_conditions(condition: Any, status: str, output: Any, holds: bool) -> None:
    edge = EdgeSpec.model_validate({"source": "a", "target": "b", "condition": condition})
    assert edge.holds(status, output) is holds


def test_the_plugin_is_installed_under_the_graph_entry_point() -> None:
    from importlib.metadata import entry_points

    import evstore_graph

    [entry_point] = [ep for ep in entry_points(group="evstore") if ep.name == "graph"]
    assert entry_point.load() is evstore_graph
    assert evstore_graph.evstore_plugin.name == "graph"
