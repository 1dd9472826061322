"""Fixtures for the graph plugin tests: the plugins the kit's ``evstore_store`` loads,
and an engine and a graph built on it (fixtures only: test modules import nothing from
here)."""

from __future__ import annotations

from typing import Any

import pytest

import evstore_graph
from evstore import EventStore


@pytest.fixture
def evstore_plugins() -> list[object]:
    return [evstore_graph]


@pytest.fixture
def engine(evstore_store: EventStore) -> evstore_graph.GraphEngine:
    return evstore_graph.GraphEngine(evstore_store)


@pytest.fixture
def chain() -> dict[str, Any]:
    """a -> b -> c, all on success."""
    return {
        "nodes": [{"id": "a"}, {"id": "b", "type": "review"}, {"id": "c"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}],
    }
