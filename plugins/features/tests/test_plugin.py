"""The plugin as the kernel sees it: names, declarations, discovery."""

from __future__ import annotations

import pytest

import evstore_features as ef
from evstore import EventStore
from evstore.testing import StoreFactory


def test_explicit_registration_uses_the_entry_point_name(evstore_store: EventStore) -> None:
    (plugin,) = evstore_store.plugins
    assert plugin.name == "features"
    assert set(plugin.event_types) == {t.name for t in ef.EVENT_TYPES}
    assert plugin.projections == [ef.PROJECTION_NAME]
    assert plugin.reactors == [ef.REACTOR_NAME]


def test_every_declared_event_type_has_a_handler(evstore_store: EventStore) -> None:
    handled = evstore_store.registry.projections[ef.PROJECTION_NAME].projection.handled_types
    assert handled == {t.name for t in ef.EVENT_TYPES}


def test_the_installed_entry_point_loads_the_plugin(
    evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "features")
    monkeypatch.delenv("EVSTORE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    store = evstore_store_factory([], autoload=True)
    assert [p.name for p in store.plugins] == ["features"]
    ef.create_feature(store, "F", "Login")
    assert ef.get_feature(store, "F") is not None
