"""Fixtures for the dashboard tests (tests/ui)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evstore import EventStore

from ui_support import Served, build_store, serve


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui") / "store.db"
    build_store(path)
    return path


@pytest.fixture(scope="module")
def demo_store(demo_path: Path) -> Iterator[EventStore]:
    store = EventStore.open(demo_path, read_only=True)  # as `evstore ui` opens it
    yield store
    store.close()


@pytest.fixture(scope="module")
def served(demo_store: EventStore) -> Iterator[Served]:
    from evstore.ui import create_app

    with serve(create_app(demo_store)) as running:
        yield running
