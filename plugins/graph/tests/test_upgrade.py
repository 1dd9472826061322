"""A store written by version 1 of the graph projection, which kept the execution
stream's version in ``graph_executions.stream_version``, opens with version 2: the kernel
rebuilds the projection from the log, the column is gone, and the engine still reads
the stream's version (now from the log) and goes on where it stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import evstore_graph
from evstore import EventStore
from evstore_graph import GraphEngine

DEFINITION = {"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b"}]}


def _columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(graph_executions)")]


def _as_version_1(path: Path) -> None:
    """What version 1 left behind: its schema (the extra column, its one migration) and
    its version in the kernel's ledger."""
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE graph_executions ADD COLUMN stream_version INTEGER NOT NULL DEFAULT 0")
        conn.execute("DELETE FROM evstore_migrations WHERE projection = 'graph' AND name LIKE '0002%'")
        conn.execute("UPDATE evstore_projections SET version = 1 WHERE name = 'graph'")


def test_a_version_1_store_is_rebuilt_without_stream_version(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with EventStore.open(path, plugins=[evstore_graph], autoload=False) as store:
        engine = GraphEngine(store)
        engine.save_graph("g", "build", DEFINITION)
        engine.start_execution("x", "g")
        [claimed] = engine.claim_ready_nodes("x", "w1")
        rows_before = store.reader.fetchall("SELECT * FROM node_executions ORDER BY id")
    _as_version_1(path)
    assert "stream_version" in _columns(path)

    with EventStore.open(path, plugins=[evstore_graph], autoload=False) as store:
        assert "stream_version" not in _columns(path)
        assert store.reader.fetchall("SELECT * FROM node_executions ORDER BY id") == rows_before
        engine = GraphEngine(store)
        execution = engine.get_execution("x")
        assert execution is not None and execution.version == store.version("execution:x") == 3
        engine.complete_node("x", claimed.node_id, {"ok": True}, worker_id="w1")
        node = engine.get_node("x", "b")
        assert node is not None and node.status == "ready"
