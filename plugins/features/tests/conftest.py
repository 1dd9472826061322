"""Fixtures for the features plugin tests (fixtures only: test modules import nothing
from here, so same-named helpers of other plugins cannot collide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import evstore_features
from evstore import EventStore

Rows = dict[str, list[tuple[Any, ...]]]


def _open(path: Path) -> EventStore:
    return EventStore.open(path, plugins=[evstore_features], autoload=False)


def _table_rows(store: EventStore) -> Rows:
    return {
        table: store.reader.fetchall(f"SELECT * FROM {table} ORDER BY id")
        for table in evstore_features.TABLES
    }


@pytest.fixture
def open_store() -> Callable[[Path], EventStore]:
    """Open a store with only this plugin (the caller closes it)."""
    return _open


@pytest.fixture
def table_rows() -> Callable[[EventStore], Rows]:
    """Every row of every table the plugin owns, in a stable order."""
    return _table_rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = _open(tmp_path / "s.db")
    yield opened
    opened.close()
