"""Fixtures for the steps plugin's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import evstore_steps
from evstore import EventStore

StoreFactory = Callable[..., EventStore]


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[StoreFactory]:
    """Open stores on ``tmp_path / "s.db"`` (or ``path=``) with autoload off and, unless
    ``plugins=`` says otherwise, only the steps plugin; all closed at teardown."""
    opened: list[EventStore] = []

    def factory(plugins: list[object] | None = None, **options: Any) -> EventStore:
        options.setdefault("autoload", False)
        if plugins is None:
            plugins = [evstore_steps]
        store = EventStore.open(options.pop("path", tmp_path / "s.db"), plugins=plugins, **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> EventStore:
    return open_store()
