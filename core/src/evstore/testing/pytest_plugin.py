"""pytest fixtures for projection tests, registered through the ``pytest11`` entry point
``evstore`` (so they are there in every test suite of an environment with evstore
installed; ``-p no:evstore`` turns them off).

Fixture names start with ``evstore_`` so that they never shadow a suite's own
``store`` or ``db_path``. This module is imported by every pytest run in the
environment, so it imports nothing heavy at import time: each fixture imports what it
needs when a test first uses it.

- ``evstore_backend``: "sqlite" or "postgresql". Every test using a store fixture runs
  once per backend chosen with ``--evstore-backend sqlite|postgresql|all`` (default
  sqlite, or ``$EVSTORE_TEST_BACKEND``); PostgreSQL runs are marked ``postgres`` and use
  ``--evstore-postgres-url`` (default ``$EVSTORE_TEST_POSTGRES_URL``, else
  postgresql://postgres@127.0.0.1:5432/test), one fresh schema per store. Asking for
  PostgreSQL when it cannot be reached stops the run with the reason: never a skip.
  A test of one backend's specifics says so with
  ``@pytest.mark.evstore_backends("sqlite")``.
- ``evstore_target_factory``: ``targets(name="evstore")`` gives the target (a path or a
  URL) of a store of the test, on the test's backend; dropped after the test.
- ``evstore_plugins``: the plugins ``evstore_store`` loads; override it in a
  ``conftest.py`` (``return [evstore_myplugin]``). Default: none.
- ``evstore_store_factory``: ``factory(plugins, path=None, **options)`` opens stores
  for the test (autoload off, durability "normal") and closes them after.
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

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ._backends import BACKENDS, DEFAULT_POSTGRES_URL, ENV_BACKEND, ENV_POSTGRES_URL, chosen_backends

if TYPE_CHECKING:
    from evstore import EventStore

    from ._backends import TargetFactory
    from ._events import EventFactory
    from ._fixtures import StoreFactory
    from ._scenario import Scenario

# Failed checks in these helpers report pytest's detailed assertion messages.
pytest.register_assert_rewrite("evstore.testing._contract", "evstore.testing._scenario")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evstore", "evstore test kit")
    group.addoption(
        "--evstore-backend", choices=(*BACKENDS, "all"), default=os.environ.get(ENV_BACKEND, "sqlite"),
        help="run store tests on sqlite, postgresql or all (default: $EVSTORE_TEST_BACKEND or sqlite)",
    )
    group.addoption(
        "--evstore-postgres-url", default=os.environ.get(ENV_POSTGRES_URL, DEFAULT_POSTGRES_URL),
        help="the PostgreSQL database store tests create their schemas in",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs against the PostgreSQL test database")
    config.addinivalue_line(
        "markers", "evstore_backends(*names): run this store test only on these backends (e.g. 'sqlite')"
    )
    if "postgresql" in chosen_backends(config.getoption("--evstore-backend", "sqlite")):
        from ._backends import check_postgres

        problem = check_postgres(str(config.getoption("--evstore-postgres-url")))
        if problem is not None:
            raise pytest.UsageError(
                f"--evstore-backend asks for PostgreSQL, but {problem}. Start the server, point "
                "--evstore-postgres-url at it, or choose --evstore-backend sqlite."
            )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "evstore_backend" not in metafunc.fixturenames:
        return
    if any("evstore_backend" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return  # the test chose its backends itself
    backends = chosen_backends(metafunc.config.getoption("--evstore-backend"))
    only = metafunc.definition.get_closest_marker("evstore_backends")
    if only is not None:
        # @pytest.mark.evstore_backends("sqlite"): a test of one backend's specifics.
        backends = [b for b in backends if b in only.args]  # none chosen: pytest skips the test
    metafunc.parametrize(
        "evstore_backend",
        [pytest.param(b, id=b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in backends],
        indirect=True,
    )


@pytest.fixture
def evstore_backend(request: pytest.FixtureRequest) -> str:
    """The backend this run of the test uses: "sqlite" or "postgresql"."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def evstore_target_factory(
    evstore_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[TargetFactory]:
    """``targets(name="evstore")``: where the test's stores live, on its backend."""
    from ._backends import TargetFactory

    targets = TargetFactory(evstore_backend, tmp_path, str(request.config.getoption("--evstore-postgres-url")))
    yield targets
    targets.cleanup()


@pytest.fixture
def evstore_plugins() -> list[object]:
    """The plugins ``evstore_store`` loads. Override in a conftest.py."""
    return []


@pytest.fixture
def evstore_store_factory(tmp_path: Path, evstore_target_factory: TargetFactory) -> Iterator[StoreFactory]:
    """Opens stores on the test's backend; closes every one of them after the test."""
    from ._fixtures import StoreFactory

    factory = StoreFactory(tmp_path, evstore_target_factory)
    yield factory
    factory.close_all()


@pytest.fixture
def evstore_store(evstore_store_factory: StoreFactory, evstore_plugins: list[object]) -> EventStore:
    """A fresh store (``tmp_path / "evstore.db"``, or a schema) with ``evstore_plugins`` only."""
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
