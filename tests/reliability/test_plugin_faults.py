"""Faulty plugins beside the real ones: each fault gives its documented behaviour and a
message naming the plugin, and the log and the other projections are untouched."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_workload import open_store, plugins, unit_events

from evstore import (
    EventStore,
    Migration,
    MigrationError,
    NewEvent,
    PluginError,
    Projection,
    hookimpl,
)

from reliability_checks import check_log, projection_tables, table_rows


def faulty(projection: Projection) -> object:
    class Faulty:
        evstore_plugin_name = "faulty"

        @hookimpl
        def evstore_register_projections(self, register: Any) -> None:
            register(projection)

    return Faulty()


def fragile_projection(fault: str) -> Projection:
    migrations = [Migration("0001", "CREATE TABLE fragile (step TEXT PRIMARY KEY)")]
    if fault == "migration":
        migrations.append(Migration("0002", "CREATE INDEX broken ON fragile (no_such_column)"))
    projection = Projection("fragile", tables=["fragile"], migrations=migrations)

    @projection.on("step_completed")
    def completed(db: Any, event: Any) -> None:
        db.execute("INSERT OR REPLACE INTO fragile VALUES (?)", (event.step_id,))
        if fault == "raises":
            raise KeyError("output")
        if fault == "slow":
            time.sleep(0.05)
        if fault == "trespass":
            db.execute("DELETE FROM steps")

    return projection


def logical_dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def fill(store: EventStore, units: int = 5) -> None:
    rng = random.Random(3)
    for unit in range(units):
        for commit in unit_events(rng, str(unit)):
            store.append_many(commit) if len({e.workflow_id for e in commit}) == 1 else [
                store.append(e) for e in commit
            ]


def rebuilt_without_the_faulty_plugin(path: Path, tmp_path: Path) -> dict[str, list[Any]]:
    """What the real plugins' tables must hold: a rebuild of a copy of this very log."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with open_store(str(copy)) as store:
        store.rebuild()
        return table_rows(copy, projection_tables(store))


@pytest.mark.parametrize("fault", ["raises", "trespass"])
def test_failing_handler_marks_only_its_projection(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "state.db"
    store = EventStore.open(path, plugins=[*plugins(), faulty(fragile_projection(fault))], autoload=False)
    fill(store)
    expected = rebuilt_without_the_faulty_plugin(path, tmp_path)
    status = {s.name: s for s in store.projection_status()}
    assert status["fragile"].status == "failing"
    assert "projection 'fragile' (plugin 'faulty')" in status["fragile"].error
    assert ("KeyError" if fault == "raises" else "writing table 'steps'") in status["fragile"].error
    assert all(s.status == "ok" for name, s in status.items() if name != "fragile")
    check_log(store, [])
    rows = table_rows(path, sorted(expected))
    assert rows == expected  # the other projections are exactly what they would be without it
    assert table_rows(path, ["fragile"])["fragile"] == []  # its own partial write was undone
    store.close()


def test_slow_handler_delays_writers_but_fails_none(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    slow = EventStore.open(path, plugins=[*plugins(), faulty(fragile_projection("slow"))], autoload=False)
    errors: list[str] = []

    def other_writer() -> None:
        with open_store(str(path)) as store:
            for n in range(20):
                try:
                    store.append(NewEvent(workflow_id="other", event_type="workflow_started",
                                          payload={"initial_step": f"s{n}"}))
                except Exception as error:
                    errors.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=other_writer)
    thread.start()
    fill(slow, units=2)
    thread.join()
    assert errors == []
    assert slow.version("other") == 20
    assert [s.status for s in slow.projection_status()] == ["ok"] * 6
    slow.close()


def test_failing_migration_names_the_plugin_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(str(path)) as store:
        fill(store, units=2)
    before = logical_dump(path)
    with pytest.raises(MigrationError) as caught:
        EventStore.open(path, plugins=[*plugins(), faulty(fragile_projection("migration"))], autoload=False)
    message = str(caught.value)
    assert "projection 'fragile' of plugin 'faulty'" in message and "migration '0002'" in message
    assert "remove it from the plugins=[...]" in message
    assert logical_dump(path) == before


def test_plugin_that_fails_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist = site / "evstore_shaky-2.0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-shaky\nVersion: 2.0.1\n")
    (dist / "entry_points.txt").write_text("[evstore]\nshaky = shaky_plugin\n")
    (site / "shaky_plugin.py").write_text("import a_module_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("EVSTORE_PLUGINS", "shaky,steps,workflows")
    path = tmp_path / "state.db"
    with pytest.raises(PluginError) as caught:
        EventStore.open(path)
    message = str(caught.value)
    assert "plugin 'shaky' (evstore-shaky 2.0.1) failed to import" in message
    assert "EVSTORE_DISABLE_PLUGINS=shaky" in message
    assert not path.exists()
    monkeypatch.setenv("EVSTORE_DISABLE_PLUGINS", "shaky")
    with EventStore.open(path) as store:
        assert sorted(p.name for p in store.plugins) == ["steps", "workflows"]
