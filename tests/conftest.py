"""Fixtures for the kernel tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore
from evstore.testing import TargetFactory

from kernel_support import LedgerPlugin

StoreFactory = Callable[..., EventStore]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A SQLite file, for tests of SQLite's specifics (mark them evstore_backends("sqlite"))."""
    return tmp_path / "store.db"


@pytest.fixture
def store_target(evstore_target_factory: TargetFactory) -> str:
    """The test's store on the backend of this run: a file path or a PostgreSQL URL."""
    return evstore_target_factory()


@pytest.fixture
def open_store(store_target: str, evstore_target_factory: TargetFactory) -> Iterator[StoreFactory]:
    """Open stores on one target (autoload off unless asked); all closed at teardown.
    ``path=`` names another store (a schema named after its stem on PostgreSQL)."""
    opened: list[EventStore] = []

    def factory(*plugins: object, **options: Any) -> EventStore:
        options.setdefault("autoload", False)
        path = options.pop("path", None)
        target = store_target if path is None else (
            str(path) if evstore_target_factory.backend == "sqlite" else evstore_target_factory(Path(path).stem)
        )
        store = EventStore.open(target, plugins=list(plugins), **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def ledger() -> LedgerPlugin:
    return LedgerPlugin()


@pytest.fixture
def store(open_store: StoreFactory, ledger: LedgerPlugin) -> EventStore:
    return open_store(ledger)
