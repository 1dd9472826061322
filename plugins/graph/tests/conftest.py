"""Fixtures for the graph plugin tests (fixtures only: test modules import nothing from
here, so same-named helpers of other plugins cannot collide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import evstore_graph
from evstore import EventStore

Rows = dict[str, list[tuple[Any, ...]]]


def _table_rows(store: EventStore) -> Rows:
    # ORDER BY every column: loop_counters has no id, and a stable order is all we need.
    rows = {}
    for table in evstore_graph.TABLES:
        width = len(store.reader.fetchall(f"PRAGMA table_info({table})"))
        order = ", ".join(str(i) for i in range(1, width + 1))
        rows[table] = store.reader.fetchall(f"SELECT * FROM {table} ORDER BY {order}")
    return rows


@pytest.fixture
def open_store() -> Callable[[Path], EventStore]:
    """Open a store with only this plugin (the caller closes it)."""
    return lambda path: EventStore.open(path, plugins=[evstore_graph], autoload=False)


@pytest.fixture
def table_rows() -> Callable[[EventStore], Rows]:
    """Every row of every table the plugin owns, in a stable order."""
    return _table_rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = EventStore.open(tmp_path / "s.db", plugins=[evstore_graph], autoload=False)
    yield opened
    opened.close()


@pytest.fixture
def engine(store: EventStore) -> evstore_graph.GraphEngine:
    return evstore_graph.GraphEngine(store)


@pytest.fixture
def chain() -> dict[str, Any]:
    """a -> b -> c, all on success."""
    return {
        "nodes": [{"id": "a"}, {"id": "b", "type": "review"}, {"id": "c"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}],
    }
