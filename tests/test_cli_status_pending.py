"""``evstore status`` is read-only: the work the next writing open would do (install a
projection, rebuild a bumped one, apply new migrations) is reported, not done."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import run

from evstore import EventStore, EventType, Migration, NewEvent, Projection, hookimpl


class _Tally:
    """One projection whose version and migrations the test chooses."""

    evstore_plugin_name = "tally"

    def __init__(self, version: int = 1, migrations: int = 1) -> None:
        self.version, self.migrations = version, migrations

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("tallied"))

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        steps = [
            Migration("0001_create", "CREATE TABLE tally (workflow_id TEXT PRIMARY KEY, n INTEGER)"),
            Migration("0002_index", "CREATE INDEX tally_n ON tally (n)"),
        ][: self.migrations]
        tally = Projection("tally", version=self.version, tables=["tally"], migrations=steps)

        @tally.on("tallied")
        def tallied(db: Any, event: Any) -> None:
            db.execute(
                "INSERT INTO tally VALUES (?, 1) ON CONFLICT (workflow_id) DO UPDATE SET n = tally.n + 1",
                (event.workflow_id,),
            )

        register(tally)


def _kernel_state(db: Path) -> tuple[list[Any], list[Any], int]:
    with EventStore.open(db, autoload=False, read_only=True) as store:
        return (
            store.reader.fetchall("SELECT name, version, position FROM evstore_projections ORDER BY name"),
            store.reader.fetchall("SELECT projection, name FROM evstore_migrations ORDER BY name"),
            int(store.reader.fetchvalue("SELECT COUNT(*) FROM tally")) if _has_tally(store) else -1,
        )


def _has_tally(store: EventStore) -> bool:
    return bool(store.reader.fetchall("SELECT name FROM evstore_tables WHERE name = 'tally'"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with EventStore.open(path, plugins=[_Tally()], autoload=False) as store:
        store.append_many([NewEvent(workflow_id=f"wf-{i}", event_type="tallied") for i in range(3)])
    return path


def _tally_status(db: Path) -> dict[str, Any]:
    result = run("--db", db, "status", "--json", EVSTORE_PLUGINS="tally")
    assert result.exit_code == 0, result.output
    [tally] = [p for p in json.loads(result.stdout)["projections"] if p["name"] == "tally"]
    return tally  # type: ignore[no-any-return]


def test_nothing_pending_on_a_current_store(db: Path, evstore_register_plugin: Callable[..., None]) -> None:
    evstore_register_plugin(_Tally())
    tally = _tally_status(db)
    assert (tally["status"], tally["pending"]) == ("ok", None)


def test_a_version_bump_is_reported_as_a_pending_rebuild_and_not_done(
    db: Path, evstore_register_plugin: Callable[..., None]
) -> None:
    before = _kernel_state(db)
    evstore_register_plugin(_Tally(version=2))
    tally = _tally_status(db)
    assert tally["status"] == "ok" and tally["version"] == 1
    assert tally["pending"].startswith("rebuild (version 1 -> 2)")
    table = run("--db", db, "status", EVSTORE_PLUGINS="tally", COLUMNS="200")
    assert "ok, rebuild pending" in table.stdout and "tally: pending rebuild (version 1 -> 2)" in table.stdout
    assert _kernel_state(db) == before


def test_new_migrations_are_reported_as_pending_and_not_applied(
    db: Path, evstore_register_plugin: Callable[..., None]
) -> None:
    before = _kernel_state(db)
    evstore_register_plugin(_Tally(migrations=2))
    assert _tally_status(db)["pending"] == "migrations 0002_index: the next writing open applies them"
    assert _kernel_state(db) == before
    with EventStore.open(db, plugins=[_Tally(migrations=2)], autoload=False):
        pass  # a writing open applies it
    assert _tally_status(db)["pending"] is None


def test_a_projection_not_installed_here_is_listed_and_not_installed(
    tmp_path: Path, evstore_register_plugin: Callable[..., None]
) -> None:
    db = tmp_path / "bare.db"
    with EventStore.open(db, autoload=False, permissive=True) as store:
        store.append(NewEvent(workflow_id="wf", event_type="tallied"))
    evstore_register_plugin(_Tally())
    tally = _tally_status(db)
    assert (tally["status"], tally["position"], tally["lag"]) == ("not installed", 0, 1)
    assert tally["pending"] == "install: the next writing open creates its tables and replays 1 event"
    projections, migrations, rows = _kernel_state(db)
    assert (projections, migrations, rows) == ([], [], -1)
