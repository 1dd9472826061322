"""pytest fixtures for projection tests, registered through the ``pytest11`` entry point
``evstore`` (so they are there in every test suite of an environment with evstore
installed; ``-p no:evstore`` turns them off).

Fixture names start with ``evstore_`` so that they never shadow a suite's own
``store`` or ``db_path``. This module is imported by every pytest run in the
environment, so it imports nothing heavy at import time: each fixture imports what it
needs when a test first uses it.

- ``evstore_plugins``: the plugins ``evstore_store`` loads; override it in a
  ``conftest.py`` (``return [evstore_myplugin]``). Default: none.
- ``evstore_store_factory``: ``factory(plugins, path=None, **options)`` opens stores in
  the test's ``tmp_path`` (autoload off, durability "normal") and closes them after.
- ``evstore_store``: a fresh store with ``evstore_plugins`` only.
- ``evstore_all_plugins_store``: a fresh store with every installed plugin (autoload on;
  ``EVSTORE_PLUGINS`` and ``EVSTORE_DISABLE_PLUGINS`` still apply) plus
  ``evstore_plugins``.
- ``evstore_event``: an :class:`~evstore.testing.EventFactory` (workflow ``wf-1``, a
  clock starting 2024-01-01T00:00:00Z that ticks one second per event).
- ``evstore_scenario``: a :class:`~evstore.testing.Scenario` on ``evstore_store``.
- ``evstore_register_plugin``: ``register(plugin, name=None, distribution=None)`` makes
  a plugin look installed (found by autoload and ``evstore plugins``) for one test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from evstore import EventStore

    from ._events import EventFactory
    from ._fixtures import StoreFactory
    from ._scenario import Scenario

# Failed checks in these helpers report pytest's detailed assertion messages.
pytest.register_assert_rewrite("evstore.testing._contract", "evstore.testing._scenario")


@pytest.fixture
def evstore_plugins() -> list[object]:
    """The plugins ``evstore_store`` loads. Override in a conftest.py."""
    return []


@pytest.fixture
def evstore_store_factory(tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores in ``tmp_path``; closes every one of them after the test."""
    from ._fixtures import StoreFactory

    factory = StoreFactory(tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def evstore_store(evstore_store_factory: StoreFactory, evstore_plugins: list[object]) -> EventStore:
    """A fresh store on ``tmp_path / "evstore.db"`` with ``evstore_plugins`` only."""
    return evstore_store_factory(evstore_plugins)


@pytest.fixture
def evstore_all_plugins_store(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object], tmp_path: Path
) -> EventStore:
    """A fresh store with every installed plugin and ``evstore_plugins``."""
    return evstore_store_factory(evstore_plugins, autoload=True, path=tmp_path / "evstore-all-plugins.db")


@pytest.fixture
def evstore_event() -> EventFactory:
    """Builds ``NewEvent``s with reproducible timestamps."""
    from ._events import EventFactory

    return EventFactory()


@pytest.fixture
def evstore_scenario(evstore_store: EventStore) -> Scenario:
    """Given / when / then on ``evstore_store``."""
    from ._scenario import Scenario

    return Scenario(evstore_store)


@pytest.fixture
def evstore_register_plugin() -> Iterator[Callable[..., None]]:
    """``register(plugin, name=None, *, distribution=None, version="0.0.0")``: the plugin
    is found like an installed one until the test ends."""
    from ._entry_points import register_plugin

    with ExitStack() as registered:

        def register(
            plugin: object, name: str | None = None, *, distribution: str | None = None, version: str = "0.0.0"
        ) -> None:
            registered.enter_context(register_plugin(plugin, name, distribution=distribution, version=version))

        yield register
