"""Invariants the reliability suite checks after every crash, race or fault."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from evstore import EventStore


def projection_tables(store: EventStore) -> list[str]:
    return sorted(t for r in store.registry.projections.values() for t in r.projection.tables)


def table_rows(path: Path, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


def check_log(store: EventStore, acknowledged: list[dict[str, Any]]) -> int:
    """Every acknowledged event is present at its position, no transaction is partly
    visible, positions are 1..n and versions gap-free per workflow. Returns n."""
    events = store.read_all()
    assert [e.id for e in events] == list(range(1, len(events) + 1)), "positions have gaps"
    by_id = {e.event_id: e.id for e in events}
    for commit in acknowledged:
        for event_id, position in zip(commit["ids"], commit["positions"], strict=True):
            assert by_id.get(event_id) == position, f"acknowledged event {event_id} lost or moved"
    sizes = Counter(e.metadata["txn"] for e in events if "txn" in e.metadata)
    for event in events:
        if "txn" in event.metadata:
            assert sizes[event.metadata["txn"]] == event.metadata["size"], "a transaction is partly visible"
    versions: dict[str, list[int]] = {}
    for event in events:
        versions.setdefault(event.workflow_id, []).append(event.version)
    for workflow, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"versions of {workflow} are not contiguous"
    return len(events)


def check_projections_equal_rebuild(store: EventStore, path: Path) -> None:
    """Every projection is ok, caught up, and equal to a fresh rebuild of a copy."""
    for status in store.projection_status():
        assert status.status == "ok" and status.lag == 0, status
    tables = projection_tables(store)
    live = table_rows(path, tables)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.db"
        with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        rebuilt_store = EventStore.open(copy, plugins=store_plugins(store), autoload=False)
        rebuilt_store.rebuild()
        rebuilt_store.close()
        assert table_rows(copy, tables) == live, "a projection differs from a fresh rebuild"
        shutil.rmtree(folder, ignore_errors=True)


def store_plugins(store: EventStore) -> list[Any]:
    import importlib

    return [importlib.import_module(f"evstore_{p.name}") for p in store.plugins]
