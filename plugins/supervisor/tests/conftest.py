"""Fixtures for the supervisor facade's tests."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evstore.testing import TargetFactory
from evstore_supervisor import Database

# Test helpers beside this file (original_supervisor.py) are imported by name; pytest's
# importlib mode does not put test folders on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

DatabaseFactory = Callable[..., Database]


@pytest.fixture
def open_database(evstore_target_factory: TargetFactory) -> Iterator[DatabaseFactory]:
    """Open databases on the test's backend (``tmp_path / "state.db"``, or a PostgreSQL
    schema; ``path=`` names another one after its stem) with autoload off, so only the
    facade's own plugins (plus any given ``plugins=``) load; closed at teardown."""
    opened: list[Database] = []

    def factory(path: Path | None = None, **options: Any) -> Database:
        options.setdefault("autoload", False)
        name = "state" if path is None else Path(path).stem
        target = str(path) if path is not None and evstore_target_factory.backend == "sqlite" else (
            evstore_target_factory(name)
        )
        db = Database(target, **options)
        opened.append(db)
        return db

    yield factory
    for db in opened:
        db.close()


@pytest.fixture
def db(open_database: DatabaseFactory) -> Database:
    return open_database()


TableDump = dict[str, list[tuple[Any, ...]]]


def _projection_tables(db: Database) -> list[str]:
    # Every table a loaded projection owns, so a table added later is compared too.
    return sorted(
        table
        for registered in db.store.registry.projections.values()
        for table in registered.projection.tables
    )


def _dump_tables(db: Database) -> TableDump:
    """Every row of every projection table, in a stable order, with exact types."""
    dumped = {}
    for table in _projection_tables(db):
        rows = [tuple(row) for row in db.store.reader.fetchall(f'SELECT * FROM "{table}"')]
        dumped[table] = sorted(rows, key=repr)
    return dumped


@pytest.fixture
def dump_tables() -> Callable[[Database], TableDump]:
    """``dump_tables(db)``: every row of every projection table, for before/after checks."""
    return _dump_tables
