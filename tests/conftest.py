"""Fixtures for the kernel tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore

from kernel_support import LedgerPlugin

StoreFactory = Callable[..., EventStore]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def open_store(db_path: Path) -> Iterator[StoreFactory]:
    """Open stores on one file (autoload off unless asked); all closed at teardown."""
    opened: list[EventStore] = []

    def factory(*plugins: object, **options: Any) -> EventStore:
        options.setdefault("autoload", False)
        store = EventStore.open(options.pop("path", db_path), plugins=list(plugins), **options)
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
