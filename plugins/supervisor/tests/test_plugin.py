"""The facade as a plugin, and which plugins a ``Database`` loads."""

from __future__ import annotations

from pathlib import Path

import pytest

import evstore_supervisor
from evstore import EventStore, NewEvent
from evstore_supervisor import SUPERVISOR_EVENT_TYPES, Database

SIX = ["checkpoints", "features", "graph", "metrics", "steps", "workflows"]


def test_the_package_is_found_through_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "supervisor")
    monkeypatch.delenv("EVSTORE_DISABLE_PLUGINS", raising=False)
    with EventStore.open(tmp_path / "s.db", plugins=[], autoload=True) as store:
        [info] = store.plugins
        assert (info.name, info.distribution) == ("supervisor", "evstore-supervisor")
        assert info.event_types == [t.name for t in SUPERVISOR_EVENT_TYPES]
        assert info.projections == [] and info.reactors == []
        store.append(NewEvent(workflow_id="wf", event_type="gate_skipped"))


def test_explicit_registration_uses_the_entry_point_name(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "s.db", plugins=[evstore_supervisor], autoload=False) as store:
        assert [info.name for info in store.plugins] == ["supervisor"]


def test_a_database_loads_the_six_plugins_and_its_own_types(tmp_path: Path) -> None:
    with Database(tmp_path / "state.db", autoload=False) as db:
        assert [info.name for info in db.store.plugins] == sorted([*SIX, "supervisor"])
        assert sorted(db.store.registry.projections) == SIX


def test_the_six_load_even_when_autoload_is_switched_off_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    with Database(tmp_path / "state.db") as db:
        assert sorted(db.store.registry.projections) == SIX


def test_installed_plugins_autoload_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Registered explicitly, the six are not loaded a second time through their entry points.
    monkeypatch.delenv("EVSTORE_PLUGINS", raising=False)
    monkeypatch.delenv("EVSTORE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("EVSTORE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    with Database(tmp_path / "state.db") as db:
        names = [info.name for info in db.store.plugins]
        assert len(names) == len(set(names))
        assert {*SIX, "supervisor"} <= set(names)
        sources = {info.name: info.source for info in db.store.plugins}
        assert all(sources[name] == "explicit" for name in [*SIX, "supervisor"])
